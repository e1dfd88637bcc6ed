"""Images in: file reading, the sources (digits, colour digits, folders, torchvision sets), the
(seed, step) training stream, segmentation and style data. uint8 throughout."""
