## The game's name, version, save folder and build settings. Written by ComfyVN; edit freely.

define config.name = "The Lantern Cafe"
define config.version = "1.0"
define gui.show_name = True

## Saves go to a folder of this name in the player's Ren'Py save location.
define config.save_directory = "the_lantern_cafe-comfyvn"
define config.window_icon = "gui/window_icon.png"

define config.has_sound = True
define config.has_music = True
define config.has_voice = True

define config.enter_transition = dissolve
define config.exit_transition = dissolve
define config.intra_transition = dissolve
define config.after_load_transition = None
define config.end_game_transition = None

## The text box shows for dialogue and hides for menus and scene changes.
define config.window = "auto"
define config.window_show_transition = Dissolve(.2)
define config.window_hide_transition = Dissolve(.2)

## Player defaults: 0 characters per second shows text at once; auto-forward speed 15.
default preferences.text_cps = 40
default preferences.afm_time = 15

## Distribution: files left out of the packages Ren'Py builds.
define build.name = "the_lantern_cafe"

init python:
    build.classify("**~", None)
    build.classify("**.bak", None)
    build.classify("**/.**", None)
    build.classify("**/#**", None)
    build.classify("**/thumbs.db", None)
    build.documentation("*.html")
    build.documentation("*.txt")
