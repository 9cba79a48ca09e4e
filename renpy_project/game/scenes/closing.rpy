# scene closing: Closing time
label closing:
    $ cvn_begin({"warmth": 0})
    $ cvn_pov = cvn_pov_pick if cvn_pov_pick is not None else None
    jump closing__late

label closing__late:
    $ cvn_trace.append("late")
    scene black
    show mira tired at cvn_at(0.5)
    cvn_ch_mira "We're closing soon." id closing_late
    scene bg cafe_night
    show mira tired at cvn_at(0.5)
    if cvn_any_open(((1.0, (), ((('warmth',), 'gte', 2), )), (1.0, (), ()), )):
        menu:
            "Help her stack the chairs" if cvn_open((1.0, (), ((('warmth',), 'gte', 2), ))):
                jump closing__thanks
            "Say goodnight" if cvn_open((1.0, (), ())):
                jump closing__night
    return

label closing__thanks:
    $ cvn_trace.append("thanks")
    scene bg cafe_night
    show mira tired at cvn_at(0.5)
    show mira happy at cvn_at(0.5)
    cvn_ch_mira "You're a regular now." id closing_thanks
    jump closing__night

label closing__night:
    $ cvn_trace.append("night")
    scene bg cafe_night
    show mira tired at cvn_at(0.5)
    "Outside, the lanterns go out one by one." id closing_night
    return

