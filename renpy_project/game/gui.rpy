## Look of the game: sizes, colours and styles. Written by ComfyVN; edit freely.
## The numbers below scale with the screen size chosen at export time.

init offset = -2

init python:
    gui.init(1280, 720)

define gui.accent_color = "#c05080"
define gui.hover_color = "#d996b3"
define gui.idle_color = "#aaaaaa"
define gui.selected_color = "#ffffff"
define gui.insensitive_color = "#8888887f"
define gui.text_color = "#ffffff"
define gui.text_font = "DejaVuSans.ttf"
define gui.main_menu_background = "gui/main_menu.png"
define gui.game_menu_background = "gui/game_menu.png"
define gui.slot_cols = 3
define gui.slot_rows = 2
define gui.text_size = 22
define gui.name_text_size = 30
define gui.interface_text_size = 22
define gui.label_text_size = 24
define gui.notify_text_size = 16
define gui.title_text_size = 50
define gui.textbox_height = 185
define gui.name_xpos = 240
define gui.namebox_padding = 5
define gui.namebox_border = 5
define gui.dialogue_xpos = 268
define gui.dialogue_ypos = 50
define gui.dialogue_width = 744
define gui.line_spacing = 2
define gui.choice_width = 790
define gui.choice_padding = 15
define gui.choice_border = 100
define gui.choice_spacing = 22
define gui.quick_spacing = 16
define gui.skip_ypos = 15
define gui.navigation_xpos = 40
define gui.navigation_spacing = 6
define gui.menu_content_xpos = 300
define gui.menu_content_ypos = 100
define gui.pref_width = 260
define gui.bar_size = 25
define gui.bar_border = 4
define gui.scrollbar_size = 12
define gui.frame_border = 12
define gui.slot_width = 256
define gui.slot_height = 144
define gui.menu_content_width = 940
define gui.menu_content_height = 540

define config.thumbnail_width = gui.slot_width
define config.thumbnail_height = gui.slot_height

## Text -------------------------------------------------------------------------------------

style default:
    font gui.text_font
    size gui.text_size
    color gui.text_color
    outlines [ (1, "#00000080", 0, 0) ]

style input:
    color gui.accent_color
    adjust_spacing False

style hyperlink_text:
    color gui.accent_color
    hover_color gui.hover_color
    hover_underline True

style button_text:
    color gui.idle_color
    hover_color gui.hover_color
    selected_color gui.selected_color
    insensitive_color gui.insensitive_color

style label_text:
    color gui.accent_color
    size gui.label_text_size

style bar:
    ysize gui.bar_size
    left_bar Frame("gui/bar/left.png", gui.bar_border, gui.bar_border)
    right_bar Frame("gui/bar/right.png", gui.bar_border, gui.bar_border)

style vscrollbar:
    xsize gui.scrollbar_size
    base_bar Solid("#ffffff20")
    thumb Solid(gui.accent_color)
    unscrollable "hide"

style frame:
    padding (gui.frame_border, gui.frame_border)
    background Frame("gui/frame.png", gui.frame_border, gui.frame_border)

## Dialogue ---------------------------------------------------------------------------------

style window:
    xalign 0.5
    xfill True
    yalign 1.0
    ysize gui.textbox_height
    background Image("gui/textbox.png", xalign=0.5, yalign=1.0)

style namebox:
    xpos gui.name_xpos
    xanchor 0.0
    ypos 0
    yanchor 1.0
    padding (gui.namebox_padding * 2, gui.namebox_padding)
    background Frame("gui/namebox.png", gui.namebox_border, gui.namebox_border)

style say_label:
    size gui.name_text_size
    color "#ffffff"
    bold True
    yalign 0.5

style say_dialogue:
    xpos gui.dialogue_xpos
    ypos gui.dialogue_ypos
    xsize gui.dialogue_width
    line_spacing gui.line_spacing

## The narrator's lines use say_thought.
style say_thought is say_dialogue

style input_prompt:
    xsize gui.dialogue_width

style input_vbox:
    xpos gui.dialogue_xpos
    ypos gui.dialogue_ypos

## Choices ----------------------------------------------------------------------------------

style choice_vbox:
    xalign 0.5
    yalign 0.45
    spacing gui.choice_spacing

style choice_button:
    xsize gui.choice_width
    padding (gui.choice_padding, gui.choice_padding // 2)
    background Frame("gui/button/choice_idle_background.png", gui.choice_border, 0)
    hover_background Frame("gui/button/choice_hover_background.png", gui.choice_border, 0)

style choice_button_text:
    xalign 0.5
    text_align 0.5
    color "#dddddd"
    hover_color "#ffffff"
    insensitive_color gui.insensitive_color

## Quick menu, skip indicator, notifications ----------------------------------------------------

style quick_hbox:
    xalign 0.5
    yalign 1.0
    spacing gui.quick_spacing

style quick_button_text:
    size gui.notify_text_size
    color gui.idle_color
    hover_color gui.hover_color
    selected_color gui.selected_color

style skip_frame:
    ypos gui.skip_ypos

style notify_frame:
    ypos gui.skip_ypos

style skip_text:
    size gui.notify_text_size

style notify_text:
    size gui.notify_text_size

## Menus ------------------------------------------------------------------------------------

style navigation_vbox:
    xpos gui.navigation_xpos
    yalign 0.5
    spacing gui.navigation_spacing

style navigation_button_text:
    size gui.interface_text_size

style main_menu_vbox:
    xalign 1.0
    xoffset -gui.navigation_xpos
    yalign 1.0
    yoffset -gui.navigation_xpos

style main_menu_title:
    size gui.title_text_size
    color gui.accent_color
    xalign 1.0
    text_align 1.0

style main_menu_version:
    xalign 1.0
    text_align 1.0

style game_menu_content:
    xpos gui.menu_content_xpos
    ypos gui.menu_content_ypos
    xsize gui.menu_content_width
    ysize gui.menu_content_height

style game_menu_label:
    xpos gui.navigation_xpos
    ypos gui.navigation_xpos // 2

style game_menu_label_text:
    size gui.title_text_size // 2

style return_button:
    xpos gui.navigation_xpos
    yalign 1.0
    yoffset -gui.navigation_xpos

style pref_vbox:
    xsize gui.pref_width
    spacing gui.choice_spacing // 2

style check_button_text is button_text
style radio_button_text is button_text

style slider_bar:
    xsize gui.pref_width

style page_hbox:
    xalign 0.5
    yalign 1.0
    spacing gui.choice_spacing

style slot_button:
    xsize gui.slot_width + gui.frame_border * 2
    padding (gui.frame_border, gui.frame_border)
    background Frame("gui/frame.png", gui.frame_border, gui.frame_border)
    hover_background Frame("gui/button/slot_hover_background.png", gui.frame_border, gui.frame_border)

style slot_button_text:
    size gui.notify_text_size
    xalign 0.5
    text_align 0.5

style confirm_frame:
    xalign 0.5
    yalign 0.5
    padding (gui.frame_border * 3, gui.frame_border * 2)

style confirm_prompt_text:
    text_align 0.5
    layout "subtitle"

style confirm_button_text:
    xalign 0.5
    size gui.label_text_size

## NVL-mode ---------------------------------------------------------------------------------

style nvl_window:
    xfill True
    yfill True
    padding (gui.navigation_xpos, gui.navigation_xpos)
    background Solid("#000000b0")

style nvl_label:
    ypos 0
    min_width gui.name_xpos
    text_align 1.0
    bold True

style nvl_dialogue:
    xpos 0
    ypos 0
    xsize gui.dialogue_width

style nvl_button_text:
    color gui.idle_color
    hover_color gui.hover_color
