# plugins/detect-anomaly: automake fragment included by the top Makefile.am (paths from the top).
