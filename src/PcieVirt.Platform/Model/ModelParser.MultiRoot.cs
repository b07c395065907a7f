using System.Text.Json;

namespace PcieVirt.Platform.Model;

// The "multiRoot" section (devicemodels/README.md): an MRA switch linked to root ports of the hosts,
// and MRA devices (Base Function + PFs) on its physical downstream ports.
internal sealed partial class ModelParser
{
    MultiRootModel? ParseMultiRoot(JsonElement? element, string path, IReadOnlyList<HostModel> hosts)
    {
        if (element is not { } e) return null;
        var r = new ObjectReader(ctx, e, path, "switch", "devices");
        if (!r.IsObject) return null;
        var sw = ParseMraSwitch(r.Object("switch", true, "name", "virtualPorts", "busReserve", "hosts"), hosts);
        var devices = new List<MraDeviceModel>();
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var deviceElements = r.Array("devices", required: true);
        if (r.Get("devices") is { ValueKind: JsonValueKind.Array } && deviceElements.Count == 0)
            ctx.Error(r.PathOf("devices"), "an MRA switch needs at least one MRA device");
        foreach (var (de, dp) in deviceElements)
        {
            if (ParseMraDevice(de, dp, sw, hosts) is not { } d) continue;
            if (!names.TryAdd(d.Name, dp)) ctx.Error(JsonPaths.Property(dp, "name"), $"device name '{d.Name}' is already used by {names[d.Name]}");
            devices.Add(d);
        }
        // Each VH's virtual ports must hold the PFs assigned there at boot.
        if (sw != null)
            foreach (var h in sw.Hosts)
            {
                int n = devices.SelectMany(d => d.Assign).Count(a => a.Host == h.Host);
                if (n > sw.VirtualPorts)
                    ctx.Error(JsonPaths.Property(JsonPaths.Property(path, "switch"), "virtualPorts"),
                        $"{n} PFs are assigned to host '{h.Host}' but its virtual switch has {sw.VirtualPorts} virtual ports");
            }
        if (sw == null) return null;
        // The virtual switch below each linked root port takes its internal bus plus, per virtual port,
        // the port's link bus and its reserve; firmware must find them in the host's ECAM range.
        foreach (var h in sw.Hosts)
        {
            if (hosts.FirstOrDefault(x => x.Name == h.Host) is not { } hm) continue;
            int needed = 1 + hm.RootPorts.Sum(rp => rp.BusNumbersNeeded()) + 1 + sw.VirtualPorts * (1 + sw.BusReserve);
            if (needed > hm.Ecam.BusCount)
                ctx.Error(JsonPaths.Property(h.Path, "host"),
                    $"host '{h.Host}' needs {needed} bus numbers with the MRA switch's virtual switch ({sw.VirtualPorts} virtual ports, busReserve {sw.BusReserve}) but its ECAM gives {hm.Ecam.BusCount}");
        }
        return new MultiRootModel { Switch = sw, Devices = devices, Path = path };
    }

    MraSwitchModel? ParseMraSwitch(ObjectReader? r, IReadOnlyList<HostModel> hosts)
    {
        if (r is not { IsObject: true }) return null;
        var name = r.String("name") ?? "mra0";
        CheckName(name, r.PathOf("name"));
        int ports = r.Int("virtualPorts", 1, 32, 4);
        int reserve = r.Int("busReserve", 0, 32, 4);
        var links = new List<MrHostLinkModel>();
        var used = new Dictionary<string, string>(StringComparer.Ordinal);
        var elements = r.Array("hosts", required: true);
        if (r.Get("hosts") is { ValueKind: JsonValueKind.Array } && elements.Count == 0)
            ctx.Error(r.PathOf("hosts"), "an MRA switch needs at least one host link");
        foreach (var (he, hp) in elements)
        {
            var hr = new ObjectReader(ctx, he, hp, "host", "rootPort");
            if (!hr.IsObject) continue;
            var host = hr.String("host", required: true);
            var rootPort = hr.String("rootPort", required: true);
            if (host == null || rootPort == null) continue;
            var hm = hosts.FirstOrDefault(h => h.Name == host);
            if (hm == null)
            {
                ctx.Error(hr.PathOf("host"), $"no host named '{host}' (hosts: {string.Join(", ", hosts.Select(h => h.Name))})");
                continue;
            }
            if (!used.TryAdd(host, hp))
            {
                ctx.Error(hr.PathOf("host"), $"host '{host}' is already linked by {used[host]}; each host has one VH");
                continue;
            }
            var rp = hm.RootPorts.FirstOrDefault(p => p.Name == rootPort);
            if (rp == null)
                ctx.Error(hr.PathOf("rootPort"), $"host '{host}' has no root port named '{rootPort}' (root ports: {string.Join(", ", hm.RootPorts.Select(p => p.Name))})");
            else if (rp.Downstream != null)
                ctx.Error(hr.PathOf("rootPort"), $"root port '{rootPort}' of host '{host}' already has a {(rp.Downstream is SwitchModel ? "switch" : "device")} below it; the MRA switch needs an empty root port");
            links.Add(new MrHostLinkModel(host, rootPort, hp));
        }
        return new MraSwitchModel { Name = name, VirtualPorts = ports, BusReserve = reserve, Hosts = links };
    }

    MraDeviceModel? ParseMraDevice(JsonElement e, string path, MraSwitchModel? sw, IReadOnlyList<HostModel> hosts)
    {
        var r = new ObjectReader(ctx, e, path, "name", "device", "baseFunction", "settings", "physicalFunctions", "assign", "attach");
        if (!r.IsObject) return null;
        var name = r.String("name", required: true);
        if (name != null) CheckName(name, r.PathOf("name"));
        var kind = r.String("device") ?? FunctionModel.GenericDeviceKind;
        if (kind is not ("generic" or "raid-controller"))
            ctx.Error(r.PathOf("device"), $"'{kind}' is not an MRA device kind (\"generic\" or \"raid-controller\")");
        var bf = r.Object("baseFunction", true, "identity") is { IsObject: true } br
            && br.Object("identity", true, IdentityProperties) is { } ir ? ParseIdentity(ir, isBridge: false) : null;
        JsonElement? settings = null;
        if (r.Get("settings") is { } se)
        {
            if (se.ValueKind == JsonValueKind.Object) settings = se.Clone();
            else ctx.Error(r.PathOf("settings"), $"expected an object, found {ParseContext.KindName(se.ValueKind)}");
        }
        if (settings != null && kind != "raid-controller")
            ctx.Error(r.PathOf("settings"), "only a raid-controller MRA device takes settings");

        var pfs = new List<FunctionModel>();
        var scope = new HostScope();
        var pfElements = r.Array("physicalFunctions", required: true);
        if (r.Get("physicalFunctions") is { ValueKind: JsonValueKind.Array } && pfElements.Count is 0 or > 64)
            ctx.Error(r.PathOf("physicalFunctions"), "an MRA device has 1 to 64 PFs");
        foreach (var (fe, fp) in pfElements)
        {
            if (ParseFunction(fe, fp, scope) is not ({ } parsed, bool autoOffset)) continue;
            // Each PF is alone on its link, so "auto" places its VFs right after function 0.
            var f = ResolveVfOffsets([(parsed, autoOffset)], device: 0)[0];
            if (f.Number != 0)
                ctx.Error(JsonPaths.Property(fp, "function"), $"{f.Number} is not 0: each PF is function 0 of the link below its virtual downstream port");
            if (fe.TryGetProperty("device", out _))
                ctx.Error(JsonPaths.Property(fp, "device"), "give the device kind on the MRA device, not on its PFs");
            if (fe.TryGetProperty("settings", out _))
                ctx.Error(JsonPaths.Property(fp, "settings"), "give settings on the MRA device: its PFs share one controller");
            pfs.Add(f with { DeviceKind = kind, Settings = settings });
        }

        var assign = new List<MrAssignModel>();
        var assignedPfs = new Dictionary<int, string>();
        var assignedPorts = new Dictionary<(string, int), string>();
        foreach (var (ae, ap) in r.Array("assign"))
        {
            var ar = new ObjectReader(ctx, ae, ap, "pf", "host", "port");
            if (!ar.IsObject) continue;
            var pf = ar.Number("pf", 0, 63, required: true);
            var host = ar.String("host", required: true);
            int? port = ar.Has("port") ? ar.Int("port", 0, 31, 0) : null;
            if (pf == null || host == null) continue;
            int pfi = (int)pf.Value.Value;
            if (pfi >= pfs.Count && pfElements.Count > 0) ctx.Error(ar.PathOf("pf"), $"PF {pfi} does not exist (0..{pfs.Count - 1})");
            else if (!assignedPfs.TryAdd(pfi, ap)) ctx.Error(ar.PathOf("pf"), $"PF {pfi} is already assigned by {assignedPfs[pfi]}");
            if (sw != null && sw.Hosts.All(h => h.Host != host))
                ctx.Error(ar.PathOf("host"), $"host '{host}' is not linked to the MRA switch (linked: {string.Join(", ", sw.Hosts.Select(h => h.Host))})");
            if (port is { } p)
            {
                if (sw != null && p >= sw.VirtualPorts) ctx.Error(ar.PathOf("port"), $"{p} is not a virtual port (0..{sw.VirtualPorts - 1})");
                else if (!assignedPorts.TryAdd((host, p), ap)) ctx.Error(ar.PathOf("port"), $"virtual port {p} of host '{host}' is already taken by {assignedPorts[(host, p)]}");
            }
            assign.Add(new MrAssignModel(pfi, host, port, ap));
        }

        var attach = new List<MrAttachModel>();
        foreach (var (te, tp) in r.Array("attach"))
        {
            var tr = new ObjectReader(ctx, te, tp, "volume", "pf", "controller");
            if (!tr.IsObject) continue;
            var volume = tr.String("volume", required: true);
            var pf = tr.Number("pf", 0, 63, required: true);
            int controller = tr.Int("controller", 0, 127, 0);
            if (kind != "raid-controller") ctx.Error(tp, "only a raid-controller MRA device has volumes to attach");
            if (pf is { } pv && (int)pv.Value >= pfs.Count && pfElements.Count > 0) ctx.Error(tr.PathOf("pf"), $"PF {pv.Value} does not exist (0..{pfs.Count - 1})");
            if (volume != null && pf != null) attach.Add(new MrAttachModel(volume, (int)pf.Value.Value, controller, tp));
        }
        if (name == null || bf == null) return null;
        return new MraDeviceModel
        {
            Name = name, DeviceKind = kind, BaseFunction = bf, Settings = settings,
            PhysicalFunctions = pfs, Assign = assign, Attach = attach, Path = path,
        };
    }
}
