"""Authoring cubes: reading a cube source directory, packing and signing a bundle, verifying it, publishing it."""
