"""The defaults of the settings beside StylizeOptions: how a run is kept and shown (every
front end reads them from here)."""

CHECKPOINT_EVERY = 300.0  # seconds between checkpoints: a killed run loses at most this much work
GIF_EVERY = 10  # iterations between GIF frames
GIF_FRAME_MS = 100  # milliseconds per GIF frame
FRAME_ITERATIONS = 40  # a clip's frames after the first
TEMPORAL_WEIGHT = 100.0  # a clip's frame held to the previous one warped by the motion
PREVIEW_SECONDS = 1.5  # the studio: at most one preview this often while a page watches
STUDIO_CHECKPOINT_EVERY = 120.0  # the studio's runs checkpoint more often: a closed laptop lid is common
