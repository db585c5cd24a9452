"""Sessions between an expert and a district: requests, lifecycle, ratings."""
