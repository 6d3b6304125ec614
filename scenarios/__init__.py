"""The bundled example scenarios and networks, shipped in the package as `neurosim.examples`.

This folder is that package (see pyproject.toml): `neurosim examples DIR` copies its
scenarios (*.toml) and networks (nets/*.npz, with the nets/make_*.py scripts that made them)
into DIR.
"""
