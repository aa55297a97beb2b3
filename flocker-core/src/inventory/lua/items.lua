local items, cnt = {}, 0
local names = a.names or {}
for i = 1, #names do
  local n = names[i]
  if zfs.exists(n) then
    items[n] = fetch(n)
    cnt = cnt + 1
  end
end
return { i = items, n = cnt }
