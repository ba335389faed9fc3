--[[
VGL-CA-0005: LSASS memory access (MITRE T1003.001, LSASS Memory).

Sysmon event 10 (process access) with lsass.exe as the target and an access
mask that allows reading its memory: 0x1010 / 0x1410 (mimikatz sekurlsa),
0x1438 / 0x143a (procdump, comsvcs MiniDump), 0x1fffff and friends (all
access). process.* is the process that opened lsass. Antivirus and the
system's own processes open lsass too: their exact paths are left out here;
add your EDR's paths in the same list.
]]

return vigil.rule {
  id = "VGL-CA-0005",
  title = "LSASS process memory opened for reading",
  description = "A process opened lsass.exe with an access mask that allows reading its " ..
    "memory (credential dumping).",
  severity = "high",
  tactic = "Credential Access",
  technique = "T1003.001",
  tags = {"windows", "sysmon", "credential-dumping"},
  where = {
    ["event.action"] = "process-access",
    ["winlog.event_data.TargetImage"] = vigil.endswith [[\lsass.exe]],
    ["winlog.event_data.GrantedAccess"] = {
      "0x1010", "0x1410", "0x1418", "0x1438", "0x143a", "0x1f0fff", "0x1f1fff",
      "0x1f2fff", "0x1f3fff", "0x1fffff",
    },
    ["process.executable"] = vigil.neg {
      vigil.like [[C:\ProgramData\Microsoft\Windows Defender\Platform\*\MsMpEng.exe]],
      [[C:\Program Files\Windows Defender\MsMpEng.exe]],
      [[C:\Program Files\Windows Defender Advanced Threat Protection\MsSense.exe]],
      [[C:\Windows\System32\csrss.exe]],
      [[C:\Windows\System32\wininit.exe]],
    },
  },
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
