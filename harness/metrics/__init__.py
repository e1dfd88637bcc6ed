"""Numbers from what the user sees: SWD, the digit ruler, VGG perceptual losses, segmentation
scores, and sample grids as uint8."""
