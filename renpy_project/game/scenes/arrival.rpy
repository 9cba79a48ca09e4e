# scene arrival: Arrival at the Lantern Cafe
label arrival:
    $ cvn_begin({"warmth": 0, "ordered": None, "visits": []})
    $ cvn_pov = cvn_pov_pick if cvn_pov_pick is not None else None
    jump arrival__door

label arrival__door:
    $ cvn_trace.append("door")
    $ cvn_apply((('append', ('visits',), "arrival"), ))
    scene black
    show mira happy at cvn_at(0.5)
    cvn_ch_mira "Welcome to the Lantern Cafe! Mind the [[old] step, it's 100%% crooked." id arrival_door
    scene bg cafe_night
    show mira happy at cvn_at(0.5)
    with Fade(0.5, 0.0, 0.5)
    "{i}*She wipes her hands on a {{flour-dusted} apron.*{/i}" id arrival_door_note
    cvn_ch_mira "What can I get you? Say \"the usual\" and I'll guess." id arrival_door_ask
    if cvn_any_open(((1.0, (), ()), (1.0, (), ()), (1.0, (), ()), )):
        menu:
            "Tea, please" if cvn_open((1.0, (), ())):
                $ cvn_apply((('set', ('ordered',), "tea"), ('increment', ('warmth',), None), ))
                jump arrival__brew
            "\"The usual\"" if cvn_open((1.0, (), ())):
                $ cvn_apply((('increment', ('warmth',), 2), ))
                jump arrival__guess
            "Just looking" if cvn_open((1.0, (), ())):
                jump arrival__cold
    return

label arrival__brew:
    $ cvn_trace.append("brew")
    scene bg cafe_night
    show mira happy at cvn_at(0.5)
    show mira neutral at cvn_at(0.5)
    cvn_ch_mira "One pot of tea, coming up." id arrival_brew
    jump arrival__luck

label arrival__guess:
    $ cvn_trace.append("guess")
    scene bg cafe_night
    show mira happy at cvn_at(0.5)
    show mira thinking at cvn_at(0.5)
    cvn_ch_mira "Let me see..." id arrival_guess
    $ cvn_i = cvn_pick(((3.0, (), ()), (1.0, (), ()), ))
    if cvn_i == 0:
        $ cvn_apply((('set', ('ordered',), "cocoa"), ))
        jump arrival__luck
    elif cvn_i == 1:
        $ cvn_apply((('set', ('ordered',), "coffee"), ))
        jump arrival__luck
    return

label arrival__cold:
    $ cvn_trace.append("cold")
    scene bg cafe_night
    show mira happy at cvn_at(0.5)
    "The door chimes behind you." id arrival_cold
    return

label arrival__luck:
    $ cvn_trace.append("luck")
    scene bg cafe_night
    show mira neutral at cvn_at(0.5)
    "The lanterns flicker." id arrival_luck
    if cvn_any_open(((1.0, (), ((('warmth',), 'gte', 1), )), (1.0, (), ()), )):
        menu:
            "Stay a while" if cvn_open((1.0, (), ((('warmth',), 'gte', 1), ))):
                jump arrival__warm_end
            "Head home" if cvn_open((1.0, (), ())):
                jump arrival__cold
    return

label arrival__warm_end:
    $ cvn_trace.append("warm_end")
    scene bg cafe_night
    show mira neutral at cvn_at(0.5)
    show mira happy at cvn_at(0.5)
    cvn_ch_mira "Then sit by the window. It's the best seat." id arrival_warm_end
    return

