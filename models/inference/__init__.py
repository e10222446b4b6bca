"""What serving does to one photo: decode it, prepare the network's input, run a predictor, and turn class maps
into the CAM (with test-time augmentation and CAM-guided zoom)."""
