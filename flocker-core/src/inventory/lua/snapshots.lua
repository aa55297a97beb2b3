local root = a.root
if not zfs.exists(root) then return { gone = true } end
local all = {}
walk(root, a.depth or -1, all)
local ads, asn = a.ads, a.asn
local sel = {}
for i = 1, #all do
  local d = all[i]
  if ads == nil or d >= ads then sel[#sel + 1] = d end
end
table.sort(sel)
local list = LS.snapshots
if a.bm then list = LS.bookmarks end
local budget = a.lim
local items, cnt, more, rd, rs = {}, 0, false, nil, nil
for i = 1, #sel do
  local d = sel[i]
  local after = nil
  if d == ads then after = asn end
  local h, n, m = pick(list(d), after, budget)
  for j = 1, n do
    if a.bm then items[h[j]] = true else items[h[j]] = fetch(h[j]) end
  end
  cnt = cnt + n
  budget = budget - n
  if m then
    more, rd, rs = true, d, h[1]
    break
  end
  if budget == 0 and i < #sel then
    more, rd = true, sel[i + 1]
    break
  end
end
return { i = items, n = cnt, m = more, d = rd, s = rs, w = #all }
