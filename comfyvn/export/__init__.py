"""Export: Ren'Py projects, the Ren'Py toolchain that validates them, and publish packages."""
