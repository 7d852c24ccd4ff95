"""`make bench`: speed and memory of dualrec on a generated 10-minute 720p recording."""
