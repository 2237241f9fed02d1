"""Installing cubes: requirements, resolution, the download cache, trust pins, lockfiles, install."""
