"""Many problems at once: what a problem and a suite are (problems), the targets (calibrate), the times to
target (times), the performance profiles and scores (profiles, verdict), and how they are shown (report)."""
