local root = a.root
if not zfs.exists(root) then return { gone = true } end
local all = {}
walk(root, a.depth or -1, all)
local k = 0
local h, n, m = pick(function() k = k + 1; return all[k] end, a.after, a.lim)
local items = {}
for j = 1, n do items[h[j]] = fetch(h[j]) end
local rd = nil
if m then rd = h[1] end
return { i = items, n = n, m = m, d = rd, w = #all }
