"""Host observations beside the packets: files a step changes that matter (.pth start-up hooks)."""
