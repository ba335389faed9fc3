# lua/: rule pack and SDK install, rule tests (automake fragment, paths from the top)
