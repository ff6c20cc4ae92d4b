"""`nst batch`: many pictures unattended: every content x style of two folders or the rows of a
plan file, option lists as a grid; finished items skipped on a rerun, failures recorded."""
