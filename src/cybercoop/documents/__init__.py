"""Official documents: every request and reply as a signed Russian PDF that anyone can verify (P6.3, P6.5, P9.2,
P13, P19)."""
