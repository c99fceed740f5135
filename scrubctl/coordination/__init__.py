"""Coordination between scrubctl runs: claims on images, and retrying transactions another node won."""
