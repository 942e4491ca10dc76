"""Where messages come from: each source yields messages (or rejections)."""
