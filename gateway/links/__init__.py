"""URLs the gateway signs and hands out (part and download links)."""
