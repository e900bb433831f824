"""App side: SDK wiring, the logging handler, the reliable batch processor, the seed API."""
