using System.Text.Json;
using System.Text.RegularExpressions;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Platform.Model;

/// <summary>
/// Walks a parsed JSON document and builds the model, checking each object as it goes (types,
/// ranges, unknown properties, per-bus and per-device rules). Invalid values are replaced by
/// placeholders so that the walk continues and every error is reported; the caller discards the
/// model when any error was found. Whole-host budgets are checked by <see cref="HostChecks"/>
/// only for hosts that read cleanly, so one bad value does not cascade into misleading errors.
/// </summary>
internal sealed partial class ModelParser(ParseContext ctx)
{
    const ulong MiB = 1UL << 20;
    const ulong KiB = 1UL << 10;

    /// <summary>Names and slot numbers already used in one host (one namespace per host).</summary>
    sealed class HostScope
    {
        public readonly Dictionary<string, (string Path, bool Given)> Names = new(StringComparer.Ordinal);
        public readonly Dictionary<int, string> Slots = [];
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex DeviceKindPattern();

    static readonly Dictionary<string, BarKind> BarKinds = new(StringComparer.Ordinal)
    {
        ["mem32"] = BarKind.Memory32, ["mem64"] = BarKind.Memory64, ["io"] = BarKind.Io,
    };

    static readonly Dictionary<string, byte> InterruptPins = new(StringComparer.Ordinal)
    {
        ["none"] = 0, ["A"] = 1, ["B"] = 2, ["C"] = 3, ["D"] = 4,
    };

    static readonly Dictionary<string, PmeSupport> PmeStateNames = new(StringComparer.Ordinal)
    {
        ["D0"] = PmeSupport.D0, ["D1"] = PmeSupport.D1, ["D2"] = PmeSupport.D2, ["D3hot"] = PmeSupport.D3Hot, ["D3cold"] = PmeSupport.D3Cold,
    };

    static readonly Dictionary<string, AcsFeatures> AcsNames = new(StringComparer.Ordinal)
    {
        ["sourceValidation"] = AcsFeatures.SourceValidation,
        ["translationBlocking"] = AcsFeatures.TranslationBlocking,
        ["p2pRequestRedirect"] = AcsFeatures.P2PRequestRedirect,
        ["p2pCompletionRedirect"] = AcsFeatures.P2PCompletionRedirect,
        ["upstreamForwarding"] = AcsFeatures.UpstreamForwarding,
        ["p2pEgressControl"] = AcsFeatures.P2PEgressControl,
        ["directTranslatedP2p"] = AcsFeatures.DirectTranslatedP2P,
    };

    /// <summary>ACS controls meaningful for a function of a multi-function device (§6.12.1.2).</summary>
    const AcsFeatures FunctionAcs = AcsFeatures.P2PRequestRedirect | AcsFeatures.P2PCompletionRedirect
        | AcsFeatures.P2PEgressControl | AcsFeatures.DirectTranslatedP2P;

    /// <summary>Identity of a root port when the model gives none: QEMU's generic PCIe root port.</summary>
    static readonly FunctionIdentity DefaultRootPortIdentity = new()
    {
        VendorId = 0x1B36, DeviceId = 0x000C, ClassCode = 0x060400, InterruptPin = 1,
    };

    // ───────────────────────────── platform and host ─────────────────────────────

    public PlatformModel? ParsePlatform(JsonElement root)
    {
        var r = new ObjectReader(ctx, root, JsonPaths.Root, "name", "description", "hosts", "timing", "multiRoot");
        if (!r.IsObject) return null;
        var name = r.String("name", required: true);
        if (name != null) CheckName(name, r.PathOf("name"));
        var description = r.String("description");

        var hosts = new List<HostModel>();
        var hostNames = new Dictionary<string, string>(StringComparer.Ordinal);
        var segments = new Dictionary<ushort, string>();
        var hostElements = r.Array("hosts", required: true);
        if (r.Get("hosts") is { ValueKind: JsonValueKind.Array } && hostElements.Count == 0)
            ctx.Error(r.PathOf("hosts"), "a platform needs at least one host");
        foreach (var (e, path) in hostElements)
        {
            int errorsBefore = ctx.ErrorCount;
            var host = ParseHost(e, path);
            if (host == null) continue;
            hosts.Add(host);
            if (!hostNames.TryAdd(host.Name, path) && host.Name.Length > 0)
                ctx.Error(JsonPaths.Property(path, "name"), $"host name '{host.Name}' is already used by {hostNames[host.Name]}");
            if (!segments.TryAdd(host.Segment, path))
                ctx.Error(JsonPaths.Property(path, "segment"), $"segment {host.Segment} is already used by {segments[host.Segment]}; each host has its own PCI segment");
            if (ctx.ErrorCount == errorsBefore) HostChecks.Check(ctx, host);
        }
        var timing = ParseTiming(r.Get("timing"), r.PathOf("timing"));
        var multiRoot = ParseMultiRoot(r.Get("multiRoot"), r.PathOf("multiRoot"), hosts);
        return new PlatformModel { Name = name ?? "", Description = description, Hosts = hosts.AsReadOnly(), Timing = timing, MultiRoot = multiRoot };
    }

    HostModel? ParseHost(JsonElement e, string path)
    {
        var r = new ObjectReader(ctx, e, path, "name", "segment", "ecam", "apertures", "ramSize", "rootPorts", "integratedEndpoints");
        if (!r.IsObject) return null;
        var scope = new HostScope();
        var name = r.String("name", required: true);
        if (name != null) CheckName(name, r.PathOf("name"));
        var segment = (ushort)r.Int("segment", 0, 0xFFFF, 0);
        var ecam = ParseEcam(r.Object("ecam", true, "base", "busStart", "busEnd"));
        var apertures = ParseApertures(r.Object("apertures", true, "mmio32", "mmio64", "io"));
        var ram = r.Number("ramSize", MiB, ulong.MaxValue, required: true);
        if (ram is { } rv && rv.Value % MiB != 0)
            ctx.Error(r.PathOf("ramSize"), $"{rv.Text} is not a multiple of 1 MiB");

        var rootPorts = new List<RootPortModel>();
        foreach (var (pe, pp) in r.Array("rootPorts"))
            if (ParsePort(pe, pp, scope, isRoot: true, switchIdentity: null, switchName: null) is RootPortModel rp)
                rootPorts.Add(rp);
        var integrated = new List<EndpointModel>();
        foreach (var (ie, ip) in r.Array("integratedEndpoints"))
            if (ParseEndpoint(ie, ip, scope, integrated: true) is { } ep)
                integrated.Add(ep);

        CheckRootBus(rootPorts, integrated);
        if (ecam != null && apertures != null) CheckMemoryMap(r, ecam, apertures, ram);

        return new HostModel
        {
            Name = name ?? "",
            Segment = segment,
            Ecam = ecam ?? new EcamModel { Base = 0, BusStart = 0, BusEnd = 0xFF },
            Apertures = apertures ?? new HostApertures { Mmio32 = new AddressRange(0, MiB) },
            RamSize = ram?.Value ?? 0,
            RootPorts = rootPorts.AsReadOnly(),
            IntegratedEndpoints = integrated.AsReadOnly(),
            Path = path,
        };
    }

    EcamModel? ParseEcam(ObjectReader? r)
    {
        if (r is not { IsObject: true }) return null;
        var b = r.Number("base", 0, ulong.MaxValue, required: true);
        int start = r.Int("busStart", 0, 255, 0);
        int end = r.Int("busEnd", 0, 255, 255);
        if (start > end)
        {
            ctx.Error(r.PathOf("busEnd"), $"busEnd {end} is below busStart {start}");
            return null;
        }
        if (b is not { } bv) return null;
        var ecam = new EcamModel { Base = bv.Value, BusStart = (byte)start, BusEnd = (byte)end };
        // §7.2.2: bus, device, function and register are taken from address bits, so the window
        // sits on a boundary of its own (power-of-two) size; at least 1 MiB, one bus.
        ulong align = System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)ecam.BusCount) * MiB;
        if (bv.Value % align != 0)
        {
            ctx.Error(r.PathOf("base"), $"{bv.Text} is not aligned to {ModelNumber.FormatSize(align)}, the size of an ECAM window for {ecam.BusCount} bus(es) rounded up to a power of two (§7.2.2)");
            return null;
        }
        if (ecam.Size - 1 > ulong.MaxValue - bv.Value)
        {
            ctx.Error(r.PathOf("base"), $"the ECAM window at {bv.Text} for {ecam.BusCount} bus(es) runs past the end of the 64-bit address space");
            return null;
        }
        return ecam;
    }

    HostApertures? ParseApertures(ObjectReader? r)
    {
        if (r is not { IsObject: true }) return null;
        var mmio32 = ParseRange(r.Object("mmio32", true, "base", "size"), MiB, HostModel.FourGiB, "below 4 GiB");
        var mmio64 = ParseRange(r.Object("mmio64", false, "base", "size"), MiB, 0, null);
        // I/O windows of bridges have 4 KiB granularity (§7.5.1.3.6); I/O addresses are at most 32 bits.
        var io = ParseRange(r.Object("io", false, "base", "size"), 4 * KiB, HostModel.FourGiB, "inside the 32-bit I/O space");
        if (mmio32 is { } m32 && mmio64 is { } m64 && m32.Overlaps(m64))
            ctx.Error(r.PathOf("mmio64"), $"mmio64 {ModelNumber.FormatRange(m64)} overlaps mmio32 {ModelNumber.FormatRange(m32)}");
        if (mmio32 == null || (r.Has("mmio64") && mmio64 == null) || (r.Has("io") && io == null)) return null;
        return new HostApertures { Mmio32 = mmio32.Value, Mmio64 = mmio64, Io = io };
    }

    /// <summary>A base/size pair aligned to <paramref name="granule"/>, ending at or below <paramref name="limit"/> (0 = 2^64).</summary>
    AddressRange? ParseRange(ObjectReader? r, ulong granule, ulong limit, string? limitText)
    {
        if (r is not { IsObject: true }) return null;
        var b = r.Number("base", 0, ulong.MaxValue, required: true);
        var s = r.Number("size", 1, ulong.MaxValue, required: true);
        bool ok = b != null && s != null;
        if (b is { } bv && bv.Value % granule != 0)
        {
            ctx.Error(r.PathOf("base"), $"{bv.Text} is not aligned to {ModelNumber.FormatSize(granule)} (bridge window granularity)");
            ok = false;
        }
        if (s is { } sv && sv.Value % granule != 0)
        {
            ctx.Error(r.PathOf("size"), $"{sv.Text} is not a multiple of {ModelNumber.FormatSize(granule)} (bridge window granularity)");
            ok = false;
        }
        if (!ok) return null;
        ulong baseAddr = b!.Value.Value, size = s!.Value.Value;
        bool fits = size - 1 <= ulong.MaxValue - baseAddr && (limit == 0 || (baseAddr < limit && size <= limit - baseAddr));
        if (!fits)
        {
            ctx.Error(r.PathOf("size"), limitText != null
                ? $"the aperture {ModelNumber.Hex(baseAddr)} + {s.Value.Text} must end {limitText}"
                : $"the aperture {ModelNumber.Hex(baseAddr)} + {s.Value.Text} runs past the end of the 64-bit address space");
            return null;
        }
        return new AddressRange(baseAddr, size);
    }

    void CheckMemoryMap(ObjectReader host, EcamModel ecam, HostApertures ap, Num? ram)
    {
        var ecamPath = JsonPaths.Property(host.PathOf("ecam"), "base");
        if (ecam.Range.Overlaps(ap.Mmio32))
            ctx.Error(ecamPath, $"the ECAM window {ModelNumber.FormatRange(ecam.Range)} overlaps the mmio32 aperture {ModelNumber.FormatRange(ap.Mmio32)}");
        if (ap.Mmio64 is { } m64 && ecam.Range.Overlaps(m64))
            ctx.Error(ecamPath, $"the ECAM window {ModelNumber.FormatRange(ecam.Range)} overlaps the mmio64 aperture {ModelNumber.FormatRange(m64)}");
        if (ram is not { } rv) return;
        ulong low = Math.Min(rv.Value, HostModel.LowRamLimit(ecam, ap));
        if (rv.Value == low) return;
        var high = new AddressRange(HostModel.FourGiB, rv.Value - low);
        var ramPath = host.PathOf("ramSize");
        if (ap.Mmio64 is { } m && high.Overlaps(m))
            ctx.Error(ramPath, $"{rv.Text} of RAM puts {ModelNumber.FormatSize(high.Size)} above 4 GiB at {ModelNumber.FormatRange(high)}, which overlaps the mmio64 aperture {ModelNumber.FormatRange(m)}");
        if (ecam.Range.Overlaps(high))
            ctx.Error(ramPath, $"{rv.Text} of RAM puts {ModelNumber.FormatSize(high.Size)} above 4 GiB at {ModelNumber.FormatRange(high)}, which overlaps the ECAM window {ModelNumber.FormatRange(ecam.Range)}");
    }

    /// <summary>
    /// The root bus holds root ports and integrated endpoints: device/function numbers must be unique,
    /// each device implements function 0, and VFs of integrated endpoints must land on free numbers.
    /// </summary>
    void CheckRootBus(List<RootPortModel> rootPorts, List<EndpointModel> integrated)
    {
        const string RootPortsOwner = "";
        var used = new Dictionary<int, string>(); // devfn → what uses it (a path or a VF description)
        var deviceOwner = new Dictionary<int, string>(); // device → RootPortsOwner or an integrated endpoint's path
        var devicePaths = new Dictionary<int, string>(); // device → first path seen
        foreach (var rp in rootPorts)
        {
            int devfn = rp.Device << 3 | rp.Function;
            if (!used.TryAdd(devfn, rp.Path))
                ctx.Error(JsonPaths.Property(rp.Path, "device"), $"device {rp.Device} function {rp.Function} is already used by {used[devfn]}");
            devicePaths.TryAdd(rp.Device, rp.Path);
            deviceOwner.TryAdd(rp.Device, RootPortsOwner);
        }
        foreach (var ep in integrated)
        {
            var devPath = JsonPaths.Property(ep.Path, "device");
            if (deviceOwner.TryGetValue(ep.Device, out var owner))
            {
                ctx.Error(devPath, owner == RootPortsOwner
                    ? $"device {ep.Device} on the root bus is a root port device ({devicePaths[ep.Device]})"
                    : $"device {ep.Device} on the root bus is already described by {owner}");
                continue;
            }
            deviceOwner[ep.Device] = ep.Path;
            devicePaths.TryAdd(ep.Device, ep.Path);
            foreach (var f in ep.Functions) used.TryAdd(ep.Device << 3 | f.Number, f.Path);
        }
        foreach (var (device, path) in devicePaths)
            if (deviceOwner[device] == RootPortsOwner && !used.ContainsKey(device << 3))
                ctx.Error(JsonPaths.Property(path, "function"), $"device {device} on the root bus has no function 0; every device implements function 0");

        // VFs of integrated endpoints live on the root bus too. Collisions inside one endpoint are
        // reported by CheckVirtualFunctions; here: other devices on the root bus and leaving the bus.
        foreach (var ep in integrated)
        {
            var ownVfs = new HashSet<int>();
            foreach (var pf in ep.Functions)
            {
                if (pf.Capabilities.Sriov is not { } iov) continue;
                foreach (var (_, vf, rid) in ep.VirtualFunctions().Where(v => v.Pf == pf))
                {
                    if (rid > 0xFF)
                    {
                        ctx.Error(JsonPaths.Property(iov.Path, "totalVfs"), $"VF {vf + 1} would sit on bus +{rid >> 8}; the VFs of a root-complex integrated endpoint must stay on the root bus");
                        break;
                    }
                    bool ownDevice = (rid >> 3) == ep.Device;
                    if (!ownDevice && !ownVfs.Contains(rid) && used.TryGetValue(rid, out var other))
                    {
                        ctx.Error(JsonPaths.Property(iov.Path, "firstVfOffset"), $"VF {vf + 1} at device {rid >> 3} function {rid & 7} of the root bus collides with {other}");
                        break;
                    }
                    ownVfs.Add(rid);
                    used.TryAdd(rid, $"VF {vf + 1} of '{pf.Name}'");
                }
            }
        }
    }

    // ───────────────────────────── ports and switches ─────────────────────────────

    PortModel? ParsePort(JsonElement e, string path, HostScope scope, bool isRoot, FunctionIdentity? switchIdentity, string? switchName)
    {
        string[] known = isRoot
            ? ["name", "device", "function", "slot", "link", "hotPlug", "busReserve", "ariForwarding", "acs", "identity", "downstream"]
            : ["name", "device", "slot", "link", "hotPlug", "busReserve", "ariForwarding", "acs", "identity", "downstream"];
        var r = new ObjectReader(ctx, e, path, known);
        if (!r.IsObject) return null;
        var device = r.Number("device", 0, 31, required: true);
        int function = isRoot ? r.Int("function", 0, 7, 0) : 0;
        int dev = (int)(device?.Value ?? 0);
        var name = r.String("name") ?? (isRoot ? $"rp{dev:x2}.{function}" : $"{switchName}.dp{dev:x2}");
        ClaimName(scope, name, r, path, device != null);

        var slotNum = r.Number("slot", 0, 8191); // Physical Slot Number is 13 bits (§7.5.3.9)
        int? slot = slotNum is { } sn ? (int)sn.Value : null;
        if (slot is { } s && !scope.Slots.TryAdd(s, path))
            ctx.Error(r.PathOf("slot"), $"slot {s} is already used by {scope.Slots[s]}; physical slot numbers are unique in a chassis");
        var link = ParseLink(r.Object("link", true, "gen", "width"));
        var hotPlug = r.Get("hotPlug") is { } hp ? ParseHotPlug(hp, r.PathOf("hotPlug")) : null;
        if (hotPlug != null && !r.Has("slot"))
            ctx.Error(r.PathOf("hotPlug"), "a hot-plug port needs a physical slot number ('slot')");
        int busReserve = r.Int("busReserve", 0, 254, 0);
        bool ari = r.Bool("ariForwarding", true);
        var acs = r.Object("acs", false, "features", "egressControlVectorSize") is { } ar ? ParseAcs(ar, forPort: true) : null;
        var identity = r.Object("identity", false, IdentityProperties) is { } ir
            ? ParseIdentity(ir, isBridge: true)
            : isRoot ? DefaultRootPortIdentity : switchIdentity ?? DefaultRootPortIdentity;

        AttachmentModel? below = null;
        if (r.Get("downstream") is { } de)
            below = ParseAttachment(de, r.PathOf("downstream"), scope, name);
        if (below is EndpointModel ep) CheckEndpointBelowPort(r, ep, busReserve, ari);

        var common = (Name: name, Device: dev, Function: function, Identity: identity ?? DefaultRootPortIdentity, Link: link ?? new LinkModel(1, 1));
        return isRoot
            ? new RootPortModel
            {
                Name = common.Name, Device = common.Device, Function = common.Function, Identity = common.Identity, Link = common.Link,
                Slot = slot, HotPlug = hotPlug, BusReserve = busReserve, AriForwarding = ari, Acs = acs, Downstream = below, Path = path,
            }
            : new DownstreamPortModel
            {
                Name = common.Name, Device = common.Device, Function = 0, Identity = common.Identity, Link = common.Link,
                Slot = slot, HotPlug = hotPlug, BusReserve = busReserve, AriForwarding = ari, Acs = acs, Downstream = below, Path = path,
            };
    }

    /// <summary>VFs past the device's bus need reserved bus numbers; function numbers above 7 need ARI Forwarding.</summary>
    void CheckEndpointBelowPort(ObjectReader port, EndpointModel ep, int busReserve, bool ariForwarding)
    {
        int extra = ep.VfBusesBeyondOwn();
        if (extra > busReserve)
            ctx.Error(port.PathOf("busReserve"), $"the VFs of the device below reach {extra} bus number(s) past its own bus; busReserve must be at least {extra} (it is {busReserve})");
        if (!ariForwarding)
        {
            bool high = ep.Functions.Any(f => f.Number > 7) || ep.VirtualFunctions().Any(v => v.RelativeRoutingId is > 7 and <= 0xFF);
            if (high)
                ctx.Error(port.PathOf("ariForwarding"), "the device below uses function numbers above 7 on this port's secondary bus, which needs ARI Forwarding (§6.13)");
        }
    }

    AttachmentModel? ParseAttachment(JsonElement e, string path, HostScope scope, string portName)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(path, $"expected an object, found {ParseContext.KindName(e.ValueKind)}");
            return null;
        }
        var typePath = JsonPaths.Property(path, "type");
        if (!e.TryGetProperty("type", out var t) || t.ValueKind == JsonValueKind.Null)
        {
            ctx.Error(typePath, "missing required property (\"switch\" or \"endpoint\")");
            return null;
        }
        var kind = t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (kind)
        {
            case "switch": return ParseSwitch(e, path, scope, portName);
            case "endpoint": return ParseEndpoint(e, path, scope, integrated: false);
            default:
                ctx.Error(typePath, $"{(kind != null ? $"'{kind}'" : ParseContext.KindName(t.ValueKind))} is not one of 'switch', 'endpoint'");
                return null;
        }
    }

    SwitchModel? ParseSwitch(JsonElement e, string path, HostScope scope, string portName)
    {
        var r = new ObjectReader(ctx, e, path, "type", "name", "identity", "link", "downstreamPorts");
        var name = r.String("name") ?? portName + ".sw";
        ClaimName(scope, name, r, path, true);
        var identity = r.Object("identity", true, IdentityProperties) is { } ir ? ParseIdentity(ir, isBridge: true) : null;
        var link = ParseLink(r.Object("link", true, "gen", "width"));

        var ports = new List<DownstreamPortModel>();
        var devices = new Dictionary<int, string>();
        var elements = r.Array("downstreamPorts", required: true);
        if (r.Get("downstreamPorts") is { ValueKind: JsonValueKind.Array })
        {
            if (elements.Count == 0)
                ctx.Error(r.PathOf("downstreamPorts"), "a switch needs at least one downstream port");
            else if (elements.Count > 32)
                ctx.Error(r.PathOf("downstreamPorts"), $"{elements.Count} downstream ports do not fit on one bus: a bus holds at most 32 devices");
        }
        foreach (var (pe, pp) in elements)
        {
            if (ParsePort(pe, pp, scope, isRoot: false, identity, name) is not DownstreamPortModel dp) continue;
            if (pe.TryGetProperty("device", out _) && !devices.TryAdd(dp.Device, pp) && elements.Count <= 32)
                ctx.Error(JsonPaths.Property(pp, "device"), $"device {dp.Device} on the switch's internal bus is already used by {devices[dp.Device]}");
            ports.Add(dp);
        }
        return new SwitchModel
        {
            Name = name,
            Identity = identity ?? DefaultRootPortIdentity,
            Link = link ?? new LinkModel(1, 1),
            DownstreamPorts = ports.AsReadOnly(),
            Path = path,
        };
    }

    LinkModel? ParseLink(ObjectReader? r)
    {
        if (r is not { IsObject: true }) return null;
        var gen = r.Number("gen", 1, 6, required: true);
        int? width = null;
        if (r.Get("width") is not { } w) r.Missing("width");
        else
        {
            var wPath = r.PathOf("width");
            string text = w.ValueKind == JsonValueKind.String ? w.GetString()! : w.GetRawText();
            ulong value = 0;
            bool parsed = w.ValueKind == JsonValueKind.String
                ? text.Length > 1 && (text[0] is 'x' or 'X') && ulong.TryParse(text.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value)
                : w.ValueKind == JsonValueKind.Number && w.TryGetUInt64(out value);
            if (parsed && value <= 32 && LinkModel.Widths.Contains((int)value)) width = (int)value;
            else ctx.Error(wPath, $"{text} is not a link width (x1, x2, x4, x8, x16, x32)");
        }
        return gen != null && width != null ? new LinkModel((int)gen.Value.Value, width.Value) : null;
    }

    HotPlugModel? ParseHotPlug(JsonElement e, string path)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.True: return new HotPlugModel();
            case JsonValueKind.False: return null;
            case JsonValueKind.Object:
                var r = new ObjectReader(ctx, e, path, "attentionButton", "powerController", "mrlSensor", "attentionIndicator", "powerIndicator", "surprise");
                var d = new HotPlugModel();
                return new HotPlugModel
                {
                    AttentionButton = r.Bool("attentionButton", d.AttentionButton),
                    PowerController = r.Bool("powerController", d.PowerController),
                    MrlSensor = r.Bool("mrlSensor", d.MrlSensor),
                    AttentionIndicator = r.Bool("attentionIndicator", d.AttentionIndicator),
                    PowerIndicator = r.Bool("powerIndicator", d.PowerIndicator),
                    Surprise = r.Bool("surprise", d.Surprise),
                };
            default:
                ctx.Error(path, $"expected true, false or an object, found {ParseContext.KindName(e.ValueKind)}");
                return null;
        }
    }

    static readonly string[] IdentityProperties =
        ["vendorId", "deviceId", "classCode", "revisionId", "subsystemVendorId", "subsystemId", "interruptPin"];

    FunctionIdentity? ParseIdentity(ObjectReader r, bool isBridge)
    {
        if (!r.IsObject) return null;
        var vendor = r.Number("vendorId", 0, 0xFFFF, required: true);
        if (vendor is { Value: 0xFFFF } v)
        {
            ctx.Error(r.PathOf("vendorId"), $"{v.Text} is not a Vendor ID: 0xFFFF is what a missing function reads");
            vendor = null;
        }
        var device = r.Number("deviceId", 0, 0xFFFF, required: true);
        var classCode = r.Number("classCode", 0, 0xFF_FFFF, required: !isBridge);
        if (isBridge && classCode is { } cc && cc.Value >> 8 != 0x0604)
        {
            ctx.Error(r.PathOf("classCode"), $"{cc.Text} is not a PCI-to-PCI bridge class code (0x0604xx); ports are bridges");
            classCode = null;
        }
        var pin = r.Keyword("interruptPin", InterruptPins) ?? 1;
        int revision = r.Int("revisionId", 0, 0xFF, 0);
        int subsystemVendor = r.Int("subsystemVendorId", 0, 0xFFFF, 0);
        int subsystem = r.Int("subsystemId", 0, 0xFFFF, 0);
        if (vendor == null || device == null || (!isBridge && classCode == null)) return null;
        return new FunctionIdentity
        {
            VendorId = (ushort)vendor.Value.Value,
            DeviceId = (ushort)device.Value.Value,
            ClassCode = (uint)(classCode?.Value ?? 0x060400),
            RevisionId = (byte)revision,
            SubsystemVendorId = (ushort)subsystemVendor,
            SubsystemId = (ushort)subsystem,
            InterruptPin = pin,
        };
    }

    AcsModel? ParseAcs(ObjectReader r, bool forPort)
    {
        if (!r.IsObject) return null;
        var features = AcsFeatures.None;
        foreach (var (fe, fp) in r.Array("features", required: true))
        {
            if (ObjectReader.ReadKeyword(ctx, fe, fp, AcsNames) is not { } f) continue;
            if ((features & f) != 0) ctx.Error(fp, $"'{fe.GetString()}' is listed twice");
            else if (!forPort && (f & FunctionAcs) == 0)
                ctx.Error(fp, $"'{fe.GetString()}' is a downstream-port control; a function may implement p2pRequestRedirect, p2pCompletionRedirect, p2pEgressControl and directTranslatedP2p (§6.12.1.2)");
            features |= f;
        }
        int vectorSize = 0;
        if ((features & AcsFeatures.P2PEgressControl) != 0)
            vectorSize = r.Int("egressControlVectorSize", 1, 256, 8);
        else if (r.Has("egressControlVectorSize"))
            ctx.Error(r.PathOf("egressControlVectorSize"), "only meaningful with the 'p2pEgressControl' feature");
        return new AcsModel { Features = features, EgressControlVectorSize = vectorSize };
    }

    /// <summary>
    /// Registers a name in the host's namespace. A default name (derived from a device number) that
    /// collides with another default name is not reported: the duplicate device number behind it is.
    /// </summary>
    void ClaimName(HostScope scope, string name, ObjectReader r, string path, bool defaultIsMeaningful = true)
    {
        bool given = r.Has("name");
        var namePath = given ? r.PathOf("name") : path;
        if (!CheckName(name, namePath)) return;
        if (scope.Names.TryAdd(name, (path, given))) return;
        var (otherPath, otherGiven) = scope.Names[name];
        if (given)
            ctx.Error(namePath, $"name '{name}' is already used by {otherPath}; names are unique within a host");
        else if (otherGiven && defaultIsMeaningful)
            ctx.Error(namePath, $"the default name '{name}' of this node is already given to {otherPath}; names are unique within a host, so name one of them differently");
    }

    bool CheckName(string name, string path)
    {
        if (NamePattern().IsMatch(name)) return true;
        ctx.Error(path, $"'{name}' is not a valid name (1-64 characters: letters, digits, '_', '.', '-'; starting with a letter or digit)");
        return false;
    }
}
