using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Platform;

namespace PcieVirt.Cli;

// Multi-root: "--host N|NAME|mgmt" for lspci/setpci, and the MR-PCIM shell command.
public sealed partial class Session
{
    /// <summary>
    /// Takes <c>--host X</c> out of a tool's arguments and picks the view it names: a host by index or
    /// name, or <c>mgmt</c> (the manager's VH0). Without the option every host is shown, as before.
    /// </summary>
    int WithHost(string[] args, string tool, Func<string[], IReadOnlyList<IConfigAccessor>, int> run)
    {
        int at = Array.IndexOf(args, "--host");
        if (at < 0) return run(args, System.Accessors);
        if (at + 1 >= args.Length)
        {
            _err.WriteLine($"{tool}: --host needs a host (index, name, or '{MultiRootSystem.ManagementName}')");
            return 2;
        }
        string which = args[at + 1];
        string[] rest = [.. args[..at], .. args[(at + 2)..]];
        if (which == MultiRootSystem.ManagementName)
        {
            if (System.MultiRoot is not { } mr)
            {
                _err.WriteLine($"{tool}: this model has no multi-root section, so no management view");
                return 2;
            }
            return run(rest, [mr.Management]);
        }
        if (FindHost(which) is not { } host)
        {
            _err.WriteLine($"{tool}: no host '{which}' (hosts: {string.Join(", ", System.Hosts.Select((h, i) => $"{i}={h.Name}"))}{(System.MultiRoot != null ? ", mgmt" : "")})");
            return 2;
        }
        return run(rest, [host]);
    }

    HostSystem? FindHost(string which) =>
        int.TryParse(which, out int i) && (uint)i < (uint)System.Hosts.Count ? System.Hosts[i] : System.FindHost(which);

    int MrPcim(string[] args)
    {
        if (System.MultiRoot is not { } mr)
        {
            _err.WriteLine("mrpcim: this model has no multi-root section (see devicemodels/mriov-2host.json)");
            return 1;
        }
        string sub = args.Length > 0 ? args[0] : "list";
        switch (sub)
        {
            case "list": return MrList(mr);
            case "counters": return MrCounters(mr);
            case "move" when args.Length is 4 or 6 && args[2] == "--to-host" && (args.Length == 4 || args[4] == "--port"):
                return MrMove(mr, args[1], args[3], args.Length == 6 ? args[5] : null);
            case "bind" when args.Length == 5:
                return MrBind(mr, args[1..]);
            case "unbind" when args.Length == 3:
                return MrUnbind(mr, args[1], args[2]);
            case "help":
                _out.WriteLine(MrUsage);
                return 0;
            default:
                _err.WriteLine($"mrpcim: bad arguments\n{MrUsage}");
                return 2;
        }
    }

    const string MrUsage = """
        mrpcim list                          MRA switch, VHs, virtual ports and what is bound there, BF tables (read through VH0)
        mrpcim counters                      TLPs per link: host links (untagged) and device links (per VH tag)
        mrpcim move PF --to-host N [--port P]  move a PF (name) to host N's VH: hot-remove there, hot-add here, both hosts rescan
        mrpcim bind VCS VPPB PORT LD         CXL FM vocabulary: bind vPPB VPPB of VCS (= VH) to physical PORT, LD (= PF index)
        mrpcim unbind VCS VPPB               CXL FM vocabulary: unbind a vPPB
        """;

    int MrList(MultiRootSystem mr)
    {
        var sw = mr.Switch;
        _out.WriteLine($"MRA switch {sw.Name}: {sw.Hierarchies.Count} VHs, {sw.DevicePorts.Count} device port(s)");
        foreach (var vh in sw.Hierarchies)
        {
            _out.WriteLine($"  VH{vh.Id}{(vh.IsManagement ? " (management)" : "")}: host {vh.RootComplex.Name}, root port {vh.HostPort.Function.Name} {vh.HostPort.Function.Bdf}, virtual switch {vh.VirtualSwitch.UpstreamPort.Bdf}");
            for (int i = 0; i < vh.VirtualDownstreamPorts.Count; i++)
            {
                var dsp = vh.VirtualDownstreamPorts[i];
                var pcie = dsp.Function.FindCapability<PciExpressCapability>()!;
                string what = dsp.Device?.Functions[0].Name ?? "(empty)";
                _out.WriteLine($"    vport {i} {dsp.Function.Bdf} slot {(pcie.PresenceDetected ? "present" : "empty")}{(pcie.DataLinkLayerActive ? ", link up" : "")}: {what}");
            }
        }
        foreach (var c in mr.Manager.Discover())
        {
            var table = string.Join(", ", c.PfToVh.Select((vh, i) => $"PF{i}→{(vh is { } v ? $"VH{v}" : "unassigned")}"));
            _out.WriteLine($"  device {c.Port.Device.Name} on port {c.Port.Index}: BF {c.BaseFunctionBdf} in VH0 (MR-IOV cap 0011h): {table}");
        }
        return 0;
    }

    int MrCounters(MultiRootSystem mr)
    {
        var links = mr.Switch.Hierarchies.Select(v => v.HostLink).Concat(mr.Switch.DevicePorts.Select(p => p.Link));
        foreach (var link in links)
        {
            var counters = link.Counters();
            _out.WriteLine($"{link.Name} ({(link.IsTagged ? "MR link, MR-IOV prefix per TLP" : "untagged")}): {(counters.Count == 0 ? "no TLPs" : "")}");
            foreach (var (tag, kind, n) in counters)
                _out.WriteLine(tag < 0 ? $"  {kind,-6} {n}" : $"  tag {tag,-3} {kind,-6} {n}");
        }
        return 0;
    }

    int MrMove(MultiRootSystem mr, string pfName, string hostText, string? portText)
    {
        if (mr.FindPf(pfName) is not { } found)
        {
            _err.WriteLine($"mrpcim: no PF '{pfName}' (PFs: {string.Join(", ", mr.Devices.SelectMany(d => d.Device.PhysicalFunctions).Select(f => f.Name))})");
            return 1;
        }
        if (FindHost(hostText) is not { } host || mr.Switch.Hierarchies.FirstOrDefault(v => !v.IsManagement && v.RootComplex == host.RootComplex) is not { } vh)
        {
            _err.WriteLine($"mrpcim: host '{hostText}' is not linked to {mr.Switch.Name}");
            return 1;
        }
        int? port = null;
        if (portText != null)
        {
            if (!int.TryParse(portText, out int p)) { _err.WriteLine($"mrpcim: '{portText}' is not a port number"); return 2; }
            port = p;
        }
        var old = mr.Switch.BindingOf(found.Device.Port, found.Pf);
        var r = mr.Manager.Move(found.Device.Port, found.Pf, vh.Id, port);
        if (!r.IsSuccess) { _err.WriteLine($"mrpcim: {r.Error}"); return 1; }
        var now = mr.Switch.BindingOf(found.Device.Port, found.Pf)!.Value;
        if (old is { } o && o.Vh == now.Vh && o.VirtualPort == now.VirtualPort)
        {
            _out.WriteLine($"{pfName} is already at VH{vh.Id} vport {now.VirtualPort}");
            return 0;
        }
        if (old is { } b) ReportHotPlug(b.Vh, b.VirtualPort, "hot-remove");
        ReportHotPlug(now.Vh, now.VirtualPort, "hot-add");
        if (old is { } ob) Rescan(ob.Vh, ob.VirtualPort);
        Rescan(now.Vh, now.VirtualPort);
        var pf = found.Device.Device.PhysicalFunctions[found.Pf];
        _out.WriteLine($"{pfName} now at {host.Name} {new PciAddress(host.RootComplex.Segment, pf.Bdf)}");
        return 0;
    }

    void ReportHotPlug(VirtualHierarchy vh, int vport, string what)
    {
        var dsp = vh.VirtualDownstreamPorts[vport];
        int cap = CapabilityWalker.FindCapability(dsp.Function.Config, CapabilityIds.PciExpress);
        ushort slotStatus = dsp.Function.Config.Read16(cap + 0x1A);
        // Slot Status bits (§7.5.3.11): 3 Presence Detect Changed, 6 Presence Detect State, 8 DLL State Changed.
        _out.WriteLine($"{vh.RootComplex.Name}: {what} at VH{vh.Id} vport {vport} ({dsp.Function.Bdf}): SltSta={slotStatus:x4} "
            + $"PresDet{((slotStatus & 0x40) != 0 ? "+" : "-")} PresDetChg{((slotStatus & 0x8) != 0 ? "+" : "-")} DLLStateChg{((slotStatus & 0x100) != 0 ? "+" : "-")}");
    }

    void Rescan(VirtualHierarchy vh, int vport)
    {
        if (System.Hosts.FirstOrDefault(h => h.RootComplex == vh.RootComplex) is not { } host) return;
        // What the OS's hot-plug driver does on a slot event: rescan that slot only, so every other
        // function keeps its bus numbers and BARs; a hot-added PF gets BARs from the window firmware reserved.
        var port = vh.VirtualDownstreamPorts[vport].Function.Bdf;
        var r = host.RescanSlot(port);
        _out.WriteLine($"{host.Name}: slot rescan below {port}: {r.Functions.Count} functions, {r.Failures.Count} failures");
        foreach (var f in r.Failures) _out.WriteLine($"  {f}");
    }

    int MrBind(MultiRootSystem mr, string[] a)
    {
        if (!int.TryParse(a[0], out int vcs) || !int.TryParse(a[1], out int vppb) || !int.TryParse(a[2], out int port) || !int.TryParse(a[3], out int ld))
        {
            _err.WriteLine("mrpcim bind: VCS VPPB PORT LD are numbers");
            return 2;
        }
        var r = mr.Manager.BindVppb(vcs, vppb, port, ld);
        if (!r.IsSuccess) { _err.WriteLine($"mrpcim: {r.Error}"); return 1; }
        var vh = mr.Switch.FindVh(vcs)!;
        ReportHotPlug(vh, vppb, "hot-add");
        Rescan(vh, vppb);
        return 0;
    }

    int MrUnbind(MultiRootSystem mr, string vcsText, string vppbText)
    {
        if (!int.TryParse(vcsText, out int vcs) || !int.TryParse(vppbText, out int vppb))
        {
            _err.WriteLine("mrpcim unbind: VCS VPPB are numbers");
            return 2;
        }
        var r = mr.Manager.UnbindVppb(vcs, vppb);
        if (!r.IsSuccess) { _err.WriteLine($"mrpcim: {r.Error}"); return 1; }
        var vh = mr.Switch.FindVh(vcs)!;
        ReportHotPlug(vh, vppb, "hot-remove");
        Rescan(vh, vppb);
        return 0;
    }
}
