--[[
VGL-DE-0002: mshta runs inline script or a remote HTA (MITRE T1218.005,
System Binary Proxy Execution: Mshta).

mshta.exe with a vbscript:, javascript: or about: argument, or an http(s)
URL / UNC path: code run by a signed Windows binary, a common first stage
of phishing payloads (the msticpy MDE sample: WinRAR -> cmd -> mshta
https://...). Local .hta files of installed applications do not match. A
shell that starts mshta (cmd /c mshta vbscript:...) matches too: on hosts that
log only some processes it is the only trace; where both are logged the two
alerts name different processes.
]]

return vigil.rule {
  id = "VGL-DE-0002",
  title = "mshta executing inline script or a remote HTA",
  description = "mshta was started with inline VBScript/JavaScript or a URL.",
  severity = "high",
  tactic = "Defense Evasion",
  technique = "T1218.005",
  tags = {"windows", "process", "lolbin"},
  where = {
    ["event.category"] = "process",
    -- mshta as the program (first word, or after a shell / path / quote), then the script
    ["process.command_line"] = vigil.re(
      [=[(^|[[:space:]\/"])mshta(\.exe)?"?[[:space:]]+"?(vbscript:|javascript:|about:|https?://|\\\\)]=]),
  },
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
