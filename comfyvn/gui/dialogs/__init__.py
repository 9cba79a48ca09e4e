"""The Studio's modal dialogs (Import Roleplay, ...)."""
