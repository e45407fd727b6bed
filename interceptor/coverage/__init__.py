"""Coverage: every TCP connection accounted for, read or with the reason it was not (issue 15)."""
