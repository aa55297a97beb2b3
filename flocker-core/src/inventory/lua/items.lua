local SNAPS = a.snaps
local items, cnt = {}, 0
local names = a.names or {}
for i = 1, #names do
  local n = names[i]
  if zfs.exists(n) then
    local t = fetch(n)
    if SNAPS and not string.find(n, "@") then
      local s = {}
      for x in LS.snapshots(n) do s[x] = gp(x, "guid") end
      t.s = s
    end
    items[n] = t
    cnt = cnt + 1
  end
end
return { i = items, n = cnt }
