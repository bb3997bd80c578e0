"""CyberCoop: the information system of the CSTO Protocol on countering cybercrime."""

__version__ = "0.1.0"
