"""The Studio's dockable panels (Task Manager, Asset Gallery, inspectors, ...)."""
