using System.Globalization;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Media;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Devices.Raid;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Cli;

// Shell commands for a RAID controller PF: drives, volumes, snapshots, attachment of volumes (namespaces) to
// the PF or a VF, drive failure and rebuild, and the PF's NVMe Virtualization Management of its VFs.
public sealed partial class Session
{
    const string RaidUsage = """
        usage: raid                                  list RAID controllers
               raid BDF drives | volumes
               raid BDF volume create NAME level=0|1|5|6|10 drives=0,1,2[,…] [stripe=64K] [spares=4,5]
               raid BDF volume create NAME level=thin pool=POOL size=SIZE
               raid BDF volume delete NAME
               raid BDF pool create NAME VOLUME
               raid BDF snapshot VOLUME NAME [pool=POOL] [writable]
               raid BDF attach|detach VOLUME vf=N|pf
               raid BDF fail DRIVE
               raid BDF spare add DRIVE [volume=VOLUME]
               raid BDF replace [VOLUME] DRIVE          (VOLUME may be left out when one volume misses a member)
               raid BDF rebuild [ROWS|all]
               raid BDF vf N online|offline|assign vq=Q vi=I
               raid BDF vf N qos [iops=N,bw=SIZE,weight=W]   read or set a VF's QoS limits (0 = unlimited)
               raid BDF qos [on|off]                       the QoS arbiter: state and every VF's limits
               raid BDF show                               drives, volumes, VF controllers and their QoS
        """;

    readonly Dictionary<RaidControllerDevice, NvmeDriver> _pfDrivers = [];

    int Raid(string[] args)
    {
        if (args.Length == 0)
        {
            foreach (var h in System.Hosts)
                foreach (var f in h.RaidControllers())
                {
                    var d = f.Device;
                    _out.WriteLine($"{new PciAddress(h.RootComplex.Segment, f.Bdf).ToString(withDomain: true)} {f.Name}: {d.Engine.Drives.Count} drives, {d.Engine.Volumes.Count} volumes, {d.Primary.SecondaryControllers.Count} VF controllers");
                }
            return 0;
        }
        if (args is ["help"]) { _out.WriteLine(RaidUsage); return 0; }
        if (args.Length < 2) return RaidFail(2, RaidUsage);
        if (!PciAddress.TryParse(args[0], out var address))
            return RaidFail(2, $"'{args[0]}' is not a function address ([domain:]bus:device.function)");
        var host = HostOf(address);
        var device = host?.FindRaidController(address.Bdf);
        if (host is null || device is null)
            return RaidFail(1, $"{address.ToString(withDomain: true)} is not a RAID controller PF");
        string[] rest = args[2..];
        return args[1] switch
        {
            "drives" => RaidDrives(device),
            "volumes" => RaidVolumes(device),
            "volume" => RaidVolumeCommand(device, rest),
            "pool" => RaidPool(device, rest),
            "snapshot" => RaidSnapshot(device, rest),
            "attach" => RaidAttach(device, rest, attach: true),
            "detach" => RaidAttach(device, rest, attach: false),
            "fail" => rest.Length == 1 ? RaidResult(device.Engine.FailDrive(rest[0]), $"drive {rest[0]} failed") : RaidFail(2, "usage: raid BDF fail DRIVE"),
            "spare" => RaidSpare(device, rest),
            "replace" => RaidReplace(device, rest),
            "rebuild" => RaidRebuild(device, rest),
            "vf" => RaidVf(host, address, device, rest),
            "qos" => RaidQos(device, rest),
            "show" => rest.Length == 0 ? RaidShow(address, device) : RaidFail(2, "usage: raid BDF show"),
            _ => RaidFail(2, $"unknown subcommand '{args[1]}'\n{RaidUsage}"),
        };
    }

    int RaidFail(int code, string message)
    {
        _err.WriteLine(message.StartsWith("usage", StringComparison.Ordinal) ? message : $"raid: {message}");
        return code;
    }

    int RaidResult(EngineResult r, string done)
    {
        if (!r.IsSuccess) return RaidFail(1, r.Error!);
        _out.WriteLine(done);
        return 0;
    }

    int RaidDrives(RaidControllerDevice d)
    {
        _out.WriteLine("drive  kind       size      block  state      volume");
        foreach (var x in d.Engine.ListDrives())
            _out.WriteLine($"{x.Name,-6} {KindName(x.Kind),-10} {ModelNumber.FormatSize((ulong)(x.BlockCount * x.BlockSize)),-9} {x.BlockSize,-6} {x.State.ToString().ToLowerInvariant(),-10} {x.Volume ?? "-"}");
        return 0;
    }

    static string KindName(DriveKind k) => k switch { DriveKind.NvmeFlash => "nand", DriveKind.Optane => "optane", _ => "hdd" };

    int RaidVolumes(RaidControllerDevice d)
    {
        _out.WriteLine("volume   kind      state       size      nsid  attached  detail");
        foreach (var v in d.Engine.ListVolumes())
        {
            var vol = d.Engine.FindVolume(v.Id)!;
            uint nsid = d.NamespaceOf(vol);
            var att = d.AttachmentsOf(vol);
            string attached = att.Count == 0 ? "-" : string.Join(',', att.Select(n => n == 0 ? "pf" : $"vf{n}"));
            _out.WriteLine($"{v.Name,-8} {v.Kind,-9} {v.State.ToString().ToLowerInvariant(),-11} {ModelNumber.FormatSize((ulong)(v.BlockCount * v.BlockSize)),-9} {(nsid == 0 ? "-" : nsid.ToString(CultureInfo.InvariantCulture)),-5} {attached,-9} {v.Detail}");
        }
        return 0;
    }

    int RaidVolumeCommand(RaidControllerDevice d, string[] a)
    {
        if (a.Length == 2 && a[0] == "delete") return RaidResult(d.DeleteVolume(a[1]), $"volume {a[1]} deleted");
        if (a.Length < 3 || a[0] != "create") return RaidFail(2, "usage: raid BDF volume create NAME level=… | volume delete NAME");
        string name = a[1];
        if (!TryOptions(a[2..], out var o, out string? bad, "level", "drives", "stripe", "spares", "pool", "size"))
            return RaidFail(2, bad!);
        if (!o.TryGetValue("level", out string? level)) return RaidFail(2, "volume create: level= is required (0, 1, 5, 6, 10 or thin)");
        if (level == "thin")
        {
            if (!o.TryGetValue("pool", out string? pool) || !o.TryGetValue("size", out string? sizeText))
                return RaidFail(2, "volume create: a thin volume needs pool=POOL and size=SIZE");
            if (!ModelNumber.TryParse(sizeText, out ulong size, out string? e) || size == 0 || size > long.MaxValue)
                return RaidFail(2, $"volume create: size: {e ?? "must be positive"}");
            var t = d.CreateThinVolume(name, pool, (long)size);
            return t.IsSuccess ? Created(d, t.Value!) : RaidFail(1, t.Error!);
        }
        RaidLevel lv;
        switch (level)
        {
            case "0": lv = RaidLevel.Raid0; break;
            case "1": lv = RaidLevel.Raid1; break;
            case "5": lv = RaidLevel.Raid5; break;
            case "6": lv = RaidLevel.Raid6; break;
            case "10": lv = RaidLevel.Raid10; break;
            default: return RaidFail(2, $"volume create: level '{level}' is not 0, 1, 5, 6, 10 or thin");
        }
        if (o.ContainsKey("size")) return RaidFail(2, "volume create: a RAID volume spans its member drives; size= is only for level=thin");
        if (!o.TryGetValue("drives", out string? drives) || !TryDriveList(drives, out var members, out bad))
            return RaidFail(2, bad ?? "volume create: drives= is required (e.g. drives=0,1,2,3)");
        string[] spares = [];
        if (o.TryGetValue("spares", out string? sp) && !TryDriveList(sp, out spares, out bad)) return RaidFail(2, bad!);
        int stripe = 64 * 1024;
        if (o.TryGetValue("stripe", out string? st))
        {
            if (!ModelNumber.TryParse(st, out ulong s, out string? e) || s > int.MaxValue) return RaidFail(2, $"volume create: stripe: {e ?? "too large"}");
            stripe = (int)s;
        }
        var r = d.CreateVolume(new VolumeSpec { Name = name, Level = lv, Members = members, StripeSizeBytes = stripe, Spares = spares });
        return r.IsSuccess ? Created(d, r.Value!) : RaidFail(1, r.Error!);
    }

    int Created(RaidControllerDevice d, IVolume v)
    {
        uint nsid = d.NamespaceOf(v);
        _out.WriteLine($"volume {v.Name}: {ModelNumber.FormatSize((ulong)(v.BlockCount * v.BlockSize))}, {(nsid == 0 ? "no namespace" : $"nsid {nsid}")}");
        return 0;
    }

    int RaidPool(RaidControllerDevice d, string[] a)
    {
        if (a.Length != 3 || a[0] != "create") return RaidFail(2, "usage: raid BDF pool create NAME VOLUME");
        var r = d.CreatePool(a[1], a[2]);
        if (!r.IsSuccess) return RaidFail(1, r.Error!);
        _out.WriteLine($"pool {a[1]} on volume {a[2]}");
        return 0;
    }

    int RaidSnapshot(RaidControllerDevice d, string[] a)
    {
        if (a.Length < 2) return RaidFail(2, "usage: raid BDF snapshot VOLUME NAME [pool=POOL] [writable]");
        string? pool = null;
        bool writable = false;
        foreach (var w in a[2..])
        {
            if (w == "writable") writable = true;
            else if (w.StartsWith("pool=", StringComparison.Ordinal)) pool = w[5..];
            else return RaidFail(2, $"snapshot: unexpected '{w}' (pool=POOL or writable)");
        }
        var r = d.CreateSnapshot(a[0], a[1], pool, writable);
        return r.IsSuccess ? Created(d, r.Value!) : RaidFail(1, r.Error!);
    }

    int RaidAttach(RaidControllerDevice d, string[] a, bool attach)
    {
        string verb = attach ? "attach" : "detach";
        if (a.Length != 2) return RaidFail(2, $"usage: raid BDF {verb} VOLUME vf=N|pf");
        int vf;
        if (a[1] == "pf") vf = 0;
        else if (!a[1].StartsWith("vf=", StringComparison.Ordinal)
                 || !int.TryParse(a[1].AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out vf) || vf == 0)
            return RaidFail(2, $"{verb}: expected vf=N (N ≥ 1) or pf, not '{a[1]}'");
        var r = attach ? d.Attach(a[0], vf) : d.Detach(a[0], vf);
        return RaidResult(r, $"{a[0]} {(attach ? "attached to" : "detached from")} {(vf == 0 ? "pf" : $"vf{vf}")}");
    }

    int RaidSpare(RaidControllerDevice d, string[] a)
    {
        if (a.Length < 2 || a[0] != "add" || a.Length > 3) return RaidFail(2, "usage: raid BDF spare add DRIVE [volume=VOLUME]");
        string? volume = null;
        if (a.Length == 3)
        {
            if (!a[2].StartsWith("volume=", StringComparison.Ordinal)) return RaidFail(2, $"spare add: unexpected '{a[2]}'");
            volume = a[2][7..];
        }
        return RaidResult(d.Engine.AddSpare(a[1], volume), $"{a[1]} is a {(volume is null ? "global" : $"{volume}")} spare");
    }

    int RaidReplace(RaidControllerDevice d, string[] a)
    {
        if (a.Length is 0 or > 2) return RaidFail(2, "usage: raid BDF replace [VOLUME] DRIVE");
        string volume;
        if (a.Length == 2) volume = a[0];
        else
        {
            var waiting = d.Engine.Volumes.OfType<RaidVolume>().Where(v => v.NeedsReplacement && v.State != VolumeState.Failed).ToList();
            if (waiting.Count != 1)
                return RaidFail(1, waiting.Count == 0 ? "replace: no volume is missing a member" : $"replace: {waiting.Count} volumes miss a member; name one ({string.Join(", ", waiting.Select(v => v.Name))})");
            volume = waiting[0].Name;
        }
        return RaidResult(d.Engine.ReplaceDrive(volume, a[^1]), $"{volume}: rebuilding onto {a[^1]}");
    }

    int RaidRebuild(RaidControllerDevice d, string[] a)
    {
        int rows = 1024;
        bool all = false;
        if (a.Length > 1) return RaidFail(2, "usage: raid BDF rebuild [ROWS|all]");
        if (a.Length == 1)
        {
            if (a[0] == "all") all = true;
            else if (!int.TryParse(a[0], NumberStyles.None, CultureInfo.InvariantCulture, out rows) || rows == 0)
                return RaidFail(2, $"rebuild: '{a[0]}' is not a positive number of rows");
        }
        long done = 0, ns = 0;
        RebuildProgress p;
        do
        {
            p = d.Engine.RebuildStep(all ? 4096 : rows);
            done += p.RowsRebuilt;
            ns += p.ServiceTimeNs;
            if (p.Status != VolumeStatus.Success) return RaidFail(1, $"rebuild: {p.Status} after {done} rows");
        } while (all && p.RowsRebuilt > 0 && !p.IsComplete);
        _out.WriteLine($"rebuilt {done} rows in {ns / 1000} us of drive time, {p.RowsRemaining} rows remaining");
        return 0;
    }

    /// <summary>Virtualization Management through the PF's admin queue (NVMe 1.4 §5.22), issued by a PF driver this session brings up.</summary>
    int RaidVf(HostSystem host, PciAddress pf, RaidControllerDevice d, string[] a)
    {
        if (a.Length < 2 || !int.TryParse(a[0], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n == 0)
            return RaidFail(2, "usage: raid BDF vf N online|offline|assign vq=Q vi=I | qos [iops=N,bw=SIZE,weight=W]");
        if (n > d.Primary.SecondaryControllers.Count) return RaidFail(1, $"vf {n}: the PF has {d.Primary.SecondaryControllers.Count} VF controllers");
        ushort id = RaidControllerDevice.VfControllerId(n);
        if (a[1] == "qos")
        {
            if (a.Length == 2)
            {
                _out.WriteLine($"vf{n} (controller {id}): {FormatQos(d.QosOf(n))}{(d.QosEnabled ? "" : " (QoS is off)")}");
                return 0;
            }
            return RaidVfQos(host, pf, d, n, id, a[2..]);
        }
        var driver = PfDriver(host, pf, d);
        if (driver is null) return 1;
        switch (a[1])
        {
            case "online" when a.Length == 2: return Virt(driver, 9, 0, id, 0, $"vf{n} online");
            case "offline" when a.Length == 2: return Virt(driver, 7, 0, id, 0, $"vf{n} offline");
            case "assign":
                if (!TryOptions(a[2..], out var o, out string? bad, "vq", "vi")) return RaidFail(2, bad!);
                foreach (var (key, resource) in new[] { ("vq", 0), ("vi", 1) })
                {
                    if (!o.TryGetValue(key, out string? v)) continue;
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count > 0xFFFF)
                        return RaidFail(2, $"assign: {key}={v} is not a count");
                    int rc = Virt(driver, 8, resource, id, count, $"vf{n}: {key.ToUpperInvariant()} = {count}");
                    if (rc != 0) return rc;
                }
                return 0;
            default: return RaidFail(2, "usage: raid BDF vf N online|offline|assign vq=Q vi=I");
        }
    }

    /// <summary>
    /// Sets a VF's QoS limits through the PF's admin queue with the vendor-specific Set Controller QoS
    /// command (C0h, spec-notes/qos.md); keys not given keep their current value. Switches QoS on first.
    /// </summary>
    int RaidVfQos(HostSystem host, PciAddress pf, RaidControllerDevice d, int n, ushort id, string[] words)
    {
        var parts = string.Join(',', words).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (!TryOptions(parts, out var o, out string? bad, "iops", "bw", "weight")) return RaidFail(2, $"qos: {bad}");
        if (o.Count == 0) return RaidFail(2, "usage: raid BDF vf N qos [iops=N,bw=SIZE,weight=W]");
        var limits = d.QosOf(n) ?? QosLimits.Unlimited;
        if (o.TryGetValue("iops", out string? iv))
        {
            if (!TryLimit(iv, out ulong iops) || iops > uint.MaxValue) return RaidFail(2, $"qos: iops={iv} is not a count 0..{uint.MaxValue} (0 = unlimited)");
            limits = limits with { IopsLimit = iops };
        }
        if (o.TryGetValue("bw", out string? bv))
        {
            ulong bw = 0;
            string? why = null;
            if (!TryLimit(bv, out bw) && !ModelNumber.TryParse(bv, out bw, out why)) return RaidFail(2, $"qos: bw={bv}: {why ?? "not a size"}");
            // Set Controller QoS carries KiB/s in a dword.
            if (bw % 1024 != 0 || bw / 1024 > uint.MaxValue) return RaidFail(2, $"qos: bw={bv} is not a whole number of KiB/s up to 4T (e.g. 100M)");
            limits = limits with { BytesPerSecond = bw };
        }
        if (o.TryGetValue("weight", out string? wv))
        {
            if (!int.TryParse(wv, NumberStyles.None, CultureInfo.InvariantCulture, out int w) || w is < 1 or > 255) return RaidFail(2, $"qos: weight={wv} is not 1..255");
            limits = limits with { Weight = w };
        }
        if (!d.VfControllers.Any(v => v.VfNumber == n)) return RaidFail(1, $"vf {n} is not enabled: its controller does not exist (sriov {pf} numvfs=…)");
        if (!d.QosEnabled)
        {
            var on = d.EnableQos();
            if (!on.IsSuccess) return RaidFail(1, $"cannot switch QoS on: {on.Error}");
            _out.WriteLine("QoS arbiter on: I/O of the PF and its VFs now completes in virtual time as the arbiter grants it");
        }
        var driver = PfDriver(host, pf, d);
        if (driver is null) return 1;
        NvmeCompletion c;
        try
        {
            c = driver.ExecuteAdmin(new NvmeSubmission
            {
                Opcode = NvmeController.SetControllerQosOpcode,
                Cdw10 = id,
                Cdw11 = (uint)limits.IopsLimit,
                Cdw12 = (uint)(limits.BytesPerSecond / 1024),
                Cdw13 = (uint)limits.Weight,
            });
        }
        catch (NvmeDriverException e)
        {
            _pfDrivers.Remove(d);
            return RaidFail(1, $"the PF's controller did not answer: {e.Message} (try again: the PF driver is brought up anew)");
        }
        if (!c.Status.IsSuccess) return RaidFail(1, $"Set Controller QoS refused: {c.Status}");
        _out.WriteLine($"vf{n} (controller {id}): {FormatQos(d.QosOf(n))}");
        return 0;
    }

    static bool TryLimit(string text, out ulong value)
    {
        value = 0;
        return text is "unlimited" or "off" || ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>"iops=20000 bw=100M weight=2", with "unlimited" for zero limits.</summary>
    internal static string FormatQos(QosLimits? limits)
    {
        var l = limits ?? QosLimits.Unlimited;
        string iops = l.IopsLimit == 0 ? "unlimited" : l.IopsLimit.ToString(CultureInfo.InvariantCulture);
        return $"iops={iops} bw={FormatRate(l.BytesPerSecond)} weight={l.Weight}";
    }

    static string FormatRate(ulong bytes)
    {
        if (bytes == 0) return "unlimited";
        foreach (var (shift, unit) in new[] { (30, "G"), (20, "M"), (10, "K") })
            if (bytes % (1UL << shift) == 0) return string.Create(CultureInfo.InvariantCulture, $"{bytes >> shift}{unit}");
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary><c>raid BDF qos [on|off]</c>: switches the arbiter, or lists its state and every VF's limits.</summary>
    int RaidQos(RaidControllerDevice d, string[] a)
    {
        switch (a)
        {
            case ["on"]:
                return RaidResult(d.EnableQos(), $"QoS arbiter on ({d.QosChannels} channels): I/O of the PF and its VFs completes in virtual time as the arbiter grants it");
            case ["off"]:
                return RaidResult(d.DisableQos(), "QoS arbiter off: I/O completes at once again (limits are kept)");
            case []:
                _out.WriteLine($"QoS {(d.QosEnabled ? "on" : "off")}, {d.QosChannels} channels");
                for (int n = 1; n <= d.Primary.SecondaryControllers.Count; n++)
                    if (d.QosOf(n) is not null || d.VfControllers.Any(v => v.VfNumber == n))
                        _out.WriteLine($"  vf{n} (controller {RaidControllerDevice.VfControllerId(n)}): {FormatQos(d.QosOf(n))}");
                return 0;
            default:
                return RaidFail(2, "usage: raid BDF qos [on|off]");
        }
    }

    /// <summary><c>raid BDF show</c>: a summary of the controller, its volumes and its VF controllers with their QoS.</summary>
    int RaidShow(PciAddress pf, RaidControllerDevice d)
    {
        var secondaries = d.Primary.SecondaryControllers;
        _out.WriteLine($"{pf.ToString(withDomain: true)} {d.Function.Name}: {d.Engine.Drives.Count} drives, {d.Engine.Volumes.Count} volumes, {secondaries.Count} VF controllers, QoS {(d.QosEnabled ? "on" : "off")} ({d.QosChannels} channels)");
        RaidVolumes(d);
        var live = d.VfControllers.Select(v => v.VfNumber).ToHashSet();
        _out.WriteLine("vf   cntlid  state    vq  vi  namespaces  qos");
        foreach (var sc in secondaries)
        {
            int n = sc.VirtualFunctionNumber;
            if (!live.Contains(n) && !sc.IsOnline && sc.QueueResources == 0 && d.QosOf(n) is null) continue;
            var nss = d.Subsystem.Namespaces.Where(ns => ns.IsAttachedTo(sc.ControllerId)).Select(ns => ns.Nsid.ToString(CultureInfo.InvariantCulture)).ToList();
            string state = !live.Contains(n) ? "disabled" : sc.IsOnline ? "online" : "offline";
            _out.WriteLine($"vf{n,-3} {sc.ControllerId,-7} {state,-8} {sc.QueueResources,-3} {sc.InterruptResources,-3} {(nss.Count == 0 ? "-" : string.Join(',', nss)),-11} {FormatQos(d.QosOf(n))}");
        }
        return 0;
    }

    int Virt(NvmeDriver driver, int action, int resource, ushort id, int count, string done)
    {
        NvmeCompletion c;
        try
        {
            c = driver.ExecuteAdmin(new NvmeSubmission
            {
                Opcode = NvmeAdminOpcode.VirtualizationManagement,
                Cdw10 = (uint)action | (uint)resource << 8 | (uint)id << 16,
                Cdw11 = (uint)count,
            });
        }
        catch (NvmeDriverException e)
        {
            // The PF was reset or disabled behind the session's back (setpci, FLR): bring it up again next time.
            foreach (var (dev, drv) in _pfDrivers)
                if (drv == driver) { _pfDrivers.Remove(dev); break; }
            return RaidFail(1, $"the PF's controller did not answer: {e.Message} (try again: the PF driver is brought up anew)");
        }
        if (!c.Status.IsSuccess) return RaidFail(1, $"Virtualization Management refused: {c.Status}{ExplainVirt(c.Status)}");
        _out.WriteLine(done);
        return 0;
    }

    static string ExplainVirt(NvmeStatus s) =>
        s == NvmeStatus.InvalidSecondaryControllerState ? " (Invalid Secondary Controller State: assign resources while offline; online needs VQ ≥ 2 and VI ≥ 1)"
        : s == NvmeStatus.InvalidNumberOfControllerResources ? " (Invalid Number of Controller Resources)"
        : s == NvmeStatus.InvalidResourceIdentifier ? " (not enough free flexible resources)"
        : "";

    /// <summary>The session's PF driver for a RAID controller (the PF's host driver), brought up on first use.</summary>
    NvmeDriver? PfDriver(HostSystem host, PciAddress pf, RaidControllerDevice d)
    {
        if (_pfDrivers.TryGetValue(d, out var driver)) return driver;
        // Queues in a RAM range above what the model's tools use; one 8 MiB area per controller.
        ulong at = 0x2000_0000 + 0x80_0000UL * (ulong)_pfDrivers.Count;
        if (!host.RootComplex.HostMemory.Contains(at, 0x80_0000)) { RaidFail(1, "no host RAM for the PF driver's queues"); return null; }
        var primary = d.Primary;
        driver = new NvmeDriver(host.RootComplex, pf.Bdf, new HostMemoryAllocator(host.RootComplex.HostMemory, at, 0x80_0000), new NvmeDriverOptions
        {
            IoQueuePairs = 0,
            Pump = primary.Options.Processing == NvmeProcessingMode.Explicit ? () => primary.ProcessPending() : null,
        });
        try
        {
            driver.Initialize();
        }
        catch (NvmeDriverException e)
        {
            RaidFail(1, $"cannot bring up the PF's controller: {e.Message}");
            return null;
        }
        _pfDrivers.Add(d, driver);
        return driver;
    }

    /// <summary>Parses key=value words, allowing only <paramref name="keys"/>.</summary>
    static bool TryOptions(string[] words, out Dictionary<string, string> options, out string? error, params string[] keys)
    {
        options = [];
        error = null;
        foreach (var w in words)
        {
            int eq = w.IndexOf('=');
            if (eq <= 0 || Array.IndexOf(keys, w[..eq]) < 0)
            {
                error = $"unexpected '{w}' (expected {string.Join(", ", keys.Select(k => k + "=…"))})";
                return false;
            }
            if (!options.TryAdd(w[..eq], w[(eq + 1)..]))
            {
                error = $"{w[..eq]}= given twice";
                return false;
            }
        }
        return true;
    }

    /// <summary>"0,1,2" or "d0,d1,d2" → drive names.</summary>
    static bool TryDriveList(string text, out string[] names, out string? error)
    {
        error = null;
        names = text.Split(',', StringSplitOptions.TrimEntries);
        for (int i = 0; i < names.Length; i++)
        {
            if (names[i].Length == 0) { error = $"'{text}' is not a list of drives (e.g. 0,1,2)"; return false; }
            if (char.IsAsciiDigit(names[i][0])) names[i] = "d" + names[i];
        }
        return true;
    }
}
