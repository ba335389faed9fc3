# core/: incidents, automation, vigil respond (automake fragment, paths from the top)
