## The screens Ren'Py needs to play, save, load and configure the game. Written by ComfyVN; edit freely.

init offset = -1

## In-game screens --------------------------------------------------------------------------

## Dialogue. The ids "window", "namebox", "who" and "what" are what Character() styles.
screen say(who, what):
    style_prefix "say"

    window:
        id "window"

        if who is not None:
            window:
                id "namebox"
                style "namebox"
                text who id "who"

        text what id "what"

    ## A character defined with image="..." shows its side image, when one exists.
    if not renpy.variant("small"):
        add SideImage() xalign 0.0 yalign 1.0

## renpy.input(): a prompt and a text field.
screen input(prompt):
    style_prefix "input"

    window:
        vbox:
            text prompt style "input_prompt"
            input id "input"

## The menu statement: one button per available choice.
screen choice(items):
    style_prefix "choice"

    vbox:
        for i in items:
            textbutton i.caption action i.action

## Buttons at the bottom of the screen while playing.
screen quick_menu():
    zorder 100

    if quick_menu:
        hbox:
            style_prefix "quick"
            textbutton _("Back") action Rollback()
            textbutton _("Skip") action Skip() alternate Skip(fast=True, confirm=True)
            textbutton _("Auto") action Preference("auto-forward", "toggle")
            textbutton _("Save") action ShowMenu("save")
            textbutton _("Q.Save") action QuickSave()
            textbutton _("Q.Load") action QuickLoad()
            textbutton _("Prefs") action ShowMenu("preferences")

init python:
    config.overlay_screens.append("quick_menu")

default quick_menu = True

## NVL-mode dialogue: the page of lines so far, and menu choices when there are any.
screen nvl(dialogue, items=None):
    window:
        style "nvl_window"

        vbox:
            spacing gui.choice_spacing

            for d in dialogue:
                window:
                    id d.window_id
                    style "default"

                    hbox:
                        spacing gui.choice_spacing

                        if d.who is not None:
                            text d.who id d.who_id style "nvl_label"

                        text d.what id d.what_id style "nvl_dialogue"

            if items:
                for i in items:
                    textbutton i.caption action i.action style "nvl_button"

## Shown while skipping.
screen skip_indicator():
    zorder 100
    style_prefix "skip"

    frame:
        hbox:
            spacing gui.choice_spacing // 2
            text _("Skipping")
            text ">>" at skip_blink

transform skip_blink:
    alpha 1.0
    linear 0.5 alpha 0.3
    linear 0.5 alpha 1.0
    repeat

## renpy.notify(): a short message that fades away.
screen notify(message):
    zorder 100
    style_prefix "notify"

    frame at notify_fade:
        text "[message!tq]"

    timer 3.25 action Hide("notify")

transform notify_fade:
    on show:
        alpha 0.0
        linear 0.25 alpha 1.0
    on hide:
        linear 0.5 alpha 0.0

## Yes/no questions (quitting, overwriting a save, ...).
screen confirm(message, yes_action, no_action):
    modal True
    zorder 200
    style_prefix "confirm"

    add Solid("#00000099")

    frame:
        vbox:
            spacing gui.choice_spacing * 2

            text _(message) style "confirm_prompt_text" xalign 0.5

            hbox:
                xalign 0.5
                spacing gui.choice_spacing * 6
                textbutton _("Yes") action yes_action
                textbutton _("No") action no_action

    key "game_menu" action no_action

## Menus --------------------------------------------------------------------------------------

screen navigation():
    vbox:
        style_prefix "navigation"

        if main_menu:
            textbutton _("Start") action Start()
        else:
            textbutton _("Save") action ShowMenu("save")

        textbutton _("Load") action ShowMenu("load")
        textbutton _("Preferences") action ShowMenu("preferences")

        if _in_replay:
            textbutton _("End Replay") action EndReplay(confirm=True)
        elif not main_menu:
            textbutton _("Main Menu") action MainMenu()

        textbutton _("About") action ShowMenu("about")

        if renpy.variant("pc") or renpy.variant("web"):
            textbutton _("Quit") action Quit(confirm=not main_menu)

screen main_menu():
    tag menu

    add gui.main_menu_background

    use navigation

    vbox:
        style "main_menu_vbox"
        text "[config.name!q]" style "main_menu_title"
        text "[config.version!q]" style "main_menu_version"

## The frame every menu page sits in; the page's content is what `use game_menu(...):` encloses.
screen game_menu(title, scroll=None, yinitial=0.0):
    if main_menu:
        add gui.main_menu_background
    else:
        add gui.game_menu_background

    fixed:
        style "game_menu_content"

        if scroll == "viewport":
            viewport:
                yinitial yinitial
                scrollbars "vertical"
                mousewheel True
                draggable True
                pagekeys True
                side_yfill True

                vbox:
                    transclude
        else:
            transclude

    use navigation

    label title style "game_menu_label"

    textbutton _("Return") action Return() style "return_button"

    if main_menu:
        key "game_menu" action ShowMenu("main_menu")

screen about():
    tag menu

    use game_menu(_("About"), scroll="viewport"):
        vbox:
            spacing gui.choice_spacing
            label "[config.name!q]"
            text _("Version [config.version!q]")
            text _("Made with Ren'Py [renpy.version_only] and exported by ComfyVN.")

screen save():
    tag menu
    use file_slots(_("Save"))

screen load():
    tag menu
    use file_slots(_("Load"))

## Save and load pages: a grid of slots with screenshots, and page buttons.
screen file_slots(title):
    use game_menu(title):
        fixed:
            text FilePageName(auto=_("Automatic saves"), quick=_("Quick saves")) xalign 0.5

            grid gui.slot_cols gui.slot_rows:
                xalign 0.5
                yalign 0.45
                spacing gui.choice_spacing

                for i in range(gui.slot_cols * gui.slot_rows):
                    $ slot = i + 1
                    button:
                        style "slot_button"
                        action FileAction(slot)

                        vbox:
                            key "save_delete" action FileDelete(slot)
                            add FileScreenshot(slot) xalign 0.5
                            text FileTime(slot, format=_("{#file_time}%Y-%m-%d %H:%M"), empty=_("empty slot")) style "slot_button_text"
                            text FileSaveName(slot) style "slot_button_text"

            hbox:
                style_prefix "page"
                textbutton _("<") action FilePagePrevious()
                textbutton _("Auto") action FilePage("auto")
                textbutton _("Quick") action FilePage("quick")
                for page in range(1, 10):
                    textbutton "[page]" action FilePage(page)
                textbutton _(">") action FilePageNext()

## Languages the game is translated into: Ren'Py language id -> the name its button shows. Each
## game/tl/<language>/cvn_strings.rpy adds its own; None is the language the story was written in.
define cvn_language_names = {None: _("Original")}

screen preferences():
    tag menu

    use game_menu(_("Preferences"), scroll="viewport"):
        hbox:
            spacing gui.navigation_xpos
            box_wrap True

            if renpy.variant("pc") or renpy.variant("web"):
                vbox:
                    style "pref_vbox"
                    label _("Display")
                    textbutton _("Window") action Preference("display", "window") style "radio_button"
                    textbutton _("Fullscreen") action Preference("display", "fullscreen") style "radio_button"

            vbox:
                style "pref_vbox"
                label _("Skip")
                textbutton _("Unseen Text") action Preference("skip", "toggle") style "check_button"
                textbutton _("After Choices") action Preference("after choices", "toggle") style "check_button"
                textbutton _("Transitions") action InvertSelected(Preference("transitions", "toggle")) style "check_button"

            vbox:
                style "pref_vbox"
                label _("Text Speed")
                bar value Preference("text speed") style "slider_bar"
                label _("Auto-Forward Time")
                bar value Preference("auto-forward time") style "slider_bar"

            vbox:
                style "pref_vbox"
                if config.has_music:
                    label _("Music Volume")
                    bar value Preference("music volume") style "slider_bar"
                if config.has_sound:
                    label _("Sound Volume")
                    bar value Preference("sound volume") style "slider_bar"
                if config.has_voice:
                    label _("Voice Volume")
                    bar value Preference("voice volume") style "slider_bar"
                textbutton _("Mute All") action Preference("all mute", "toggle") style "check_button"

            ## Only a game with translations (game/tl/<language>/) offers a choice of language.
            if renpy.known_languages():
                vbox:
                    style "pref_vbox"
                    label _("Language")
                    textbutton cvn_language_names.get(None, _("Original")) action Language(None) style "radio_button"
                    for cvn_language in sorted(renpy.known_languages()):
                        textbutton cvn_language_names.get(cvn_language, cvn_language) action Language(cvn_language) style "radio_button"
