using System.Numerics;
using System.Text.Json;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Platform.Model;

internal sealed partial class ModelParser
{
    // ───────────────────────────── endpoints ─────────────────────────────

    EndpointModel? ParseEndpoint(JsonElement e, string path, HostScope scope, bool integrated)
    {
        var r = integrated
            ? new ObjectReader(ctx, e, path, "name", "device", "functions")
            : new ObjectReader(ctx, e, path, "type", "name", "functions");
        if (!r.IsObject) return null;
        var name = r.String("name");
        if (name != null) ClaimName(scope, name, r, path);
        int device = integrated ? (int)(r.Number("device", 0, 31, required: true)?.Value ?? 0) : 0;

        var parsed = new List<(FunctionModel Function, bool AutoOffset)>();
        var elements = r.Array("functions", required: true);
        if (r.Get("functions") is { ValueKind: JsonValueKind.Array } && elements.Count == 0)
            ctx.Error(r.PathOf("functions"), "a device needs at least one function");
        foreach (var (fe, fp) in elements)
            if (ParseFunction(fe, fp, scope) is { } f) parsed.Add(f);

        // Function numbers: unique, function 0 present, ARI rules (§6.13).
        var byNumber = new Dictionary<int, string>();
        foreach (var (f, _) in parsed)
            if (!byNumber.TryAdd(f.Number, f.Path))
                ctx.Error(JsonPaths.Property(f.Path, "function"), $"function {f.Number} is already defined by {byNumber[f.Number]}");
        if (parsed.Count > 0 && parsed.Count == elements.Count && !byNumber.ContainsKey(0))
            ctx.Error(r.PathOf("functions"), "the device has no function 0; every device implements function 0");
        if (integrated)
        {
            foreach (var (f, _) in parsed)
                if (f.Number > 7)
                    ctx.Error(JsonPaths.Property(f.Path, "function"), $"function {f.Number}: a root-complex integrated endpoint has function numbers 0..7 (ARI applies below a port)");
        }
        else if (parsed.Any(p => p.Function.Number > 7 || p.Function.Capabilities.Ari))
        {
            foreach (var (f, _) in parsed.Where(p => !p.Function.Capabilities.Ari))
                ctx.Error(JsonPaths.Property(f.Path, "capabilities"), parsed.Any(p => p.Function.Number > 7)
                    ? "the device uses function numbers above 7 (ARI), so every function must set capabilities.ari (§6.13)"
                    : "another function of this device implements ARI; every function of an ARI device must set capabilities.ari (§6.13)");
        }

        var functions = ResolveVfOffsets(parsed, device);
        functions.Sort((a, b) => a.Number.CompareTo(b.Number));
        var endpoint = new EndpointModel
        {
            Name = name, Device = device, IsIntegrated = integrated, Functions = functions.AsReadOnly(), Path = path,
        };
        CheckVirtualFunctions(endpoint, integrated);
        return endpoint;
    }

    /// <summary>
    /// "auto" First VF Offset: VFs follow the device's highest function number, PF after PF in
    /// function order, each PF's VFs spaced by its VF Stride.
    /// </summary>
    List<FunctionModel> ResolveVfOffsets(List<(FunctionModel Function, bool AutoOffset)> parsed, int device)
    {
        var result = parsed.Select(p => p.Function).ToList();
        if (parsed.Count == 0) return result;
        int baseRid = device << 3;
        int cursor = baseRid + parsed.Max(p => p.Function.Number) + 1;
        foreach (var (f, auto) in parsed.OrderBy(p => p.Function.Number))
        {
            if (f.Capabilities.Sriov is not { } iov) continue;
            int pfRid = baseRid + f.Number;
            int offset = auto ? cursor - pfRid : iov.FirstVfOffset;
            if (auto && offset > 0xFFFF)
            {
                ctx.Error(JsonPaths.Property(iov.Path, "firstVfOffset"), $"'auto' would need First VF Offset {offset}, above 65535");
                continue;
            }
            cursor = Math.Max(cursor, pfRid + offset + (iov.TotalVfs - 1) * iov.VfStride + 1);
            if (auto)
            {
                int i = result.IndexOf(f);
                result[i] = f with { Capabilities = f.Capabilities with { Sriov = iov with { FirstVfOffset = offset } } };
            }
        }
        return result;
    }

    /// <summary>
    /// VF routing IDs (§9.3.3, First VF Offset / VF Stride) must not collide with the device's PFs or
    /// other VFs, fit in 16 bits, and need ARI on the device's own bus above function 7.
    /// </summary>
    void CheckVirtualFunctions(EndpointModel ep, bool integrated)
    {
        var owners = new Dictionary<int, string>();
        foreach (var f in ep.Functions) owners.TryAdd(ep.Device << 3 | f.Number, $"function {f.Number} ('{f.Name}')");
        foreach (var pf in ep.Functions)
        {
            if (pf.Capabilities.Sriov is not { } iov) continue;
            // Reported already: stride 0 where the stride is read, an unresolvable "auto" offset above.
            if ((iov.VfStride == 0 && iov.TotalVfs > 1) || iov.FirstVfOffset == 0) continue;
            if (!ep.Functions.Any(f => f.Number == iov.FunctionDependencyLink))
                ctx.Error(JsonPaths.Property(iov.Path, "functionDependencyLink"), $"{iov.FunctionDependencyLink} is not a function number of this device");
            foreach (var (_, vf, rid) in ep.VirtualFunctions().Where(v => v.Pf == pf))
            {
                var offsetPath = JsonPaths.Property(iov.Path, "firstVfOffset");
                if (rid > 0xFFFF)
                {
                    ctx.Error(offsetPath, $"VF {vf + 1} has routing ID offset 0x{rid:x} relative to the device, beyond 16 bits");
                    break;
                }
                if (owners.TryGetValue(rid, out var other))
                {
                    ctx.Error(offsetPath, $"VF {vf + 1} of '{pf.Name}' (routing ID +0x{rid:x}) collides with {other}");
                    break;
                }
                if (!integrated && rid is > 7 and <= 0xFF && !pf.Capabilities.Ari)
                {
                    ctx.Error(offsetPath, $"VF {vf + 1} of '{pf.Name}' gets function number {rid} on the device's bus, which needs ARI: set capabilities.ari (§6.13) or place the VFs on the next bus with a larger firstVfOffset");
                    break;
                }
                owners[rid] = $"VF {vf + 1} of '{pf.Name}'";
            }
        }
    }

    (FunctionModel, bool)? ParseFunction(JsonElement e, string path, HostScope scope)
    {
        var r = new ObjectReader(ctx, e, path, "function", "name", "identity", "bars", "expansionRom", "capabilities", "device", "settings");
        if (!r.IsObject) return null;
        var number = r.Number("function", 0, 255, required: true);
        var name = r.String("name", required: true);
        if (name != null) ClaimName(scope, name, r, path);
        var identity = r.Object("identity", true, IdentityProperties) is { } ir ? ParseIdentity(ir, isBridge: false) : null;
        var bars = ParseBars(r, "bars", forVf: false, out var brokenBars);

        uint rom = 0;
        if (r.Number("expansionRom", 0, ulong.MaxValue) is { } rv)
        {
            // §7.5.1.2.4: a power of two, at least 2 KiB; PCI firmware limits images to 16 MiB.
            if (!BitOperations.IsPow2(rv.Value))
                ctx.Error(r.PathOf("expansionRom"), $"{rv.Text} is not a power of two");
            else if (rv.Value < 2 * KiB || rv.Value > 16 * MiB)
                ctx.Error(r.PathOf("expansionRom"), $"{rv.Text} is outside 2 KiB..16 MiB");
            else rom = (uint)rv.Value;
        }

        var caps = new CapabilitiesModel();
        bool autoOffset = false;
        if (r.Object("capabilities", false, "pm", "msi", "msix", "pcie", "aer", "acs", "ari", "dsn", "sriov") is { IsObject: true } cr)
            (caps, autoOffset) = ParseCapabilities(cr, bars, brokenBars, (int)(number?.Value ?? 0));

        var kind = r.String("device") ?? FunctionModel.GenericDeviceKind;
        if (!DeviceKindPattern().IsMatch(kind))
            ctx.Error(r.PathOf("device"), $"'{kind}' is not a device kind (lower-case letters, digits and '-', e.g. \"generic\", \"raid-controller\")");
        JsonElement? settings = null;
        if (r.Get("settings") is { } se)
        {
            if (se.ValueKind == JsonValueKind.Object) settings = se.Clone(); // outlives the document
            else ctx.Error(r.PathOf("settings"), $"expected an object, found {ParseContext.KindName(se.ValueKind)}");
        }

        // Without a valid number the function cannot be placed; its other errors are already reported.
        if (number == null) return null;
        var model = new FunctionModel
        {
            Number = (int)number.Value.Value,
            Name = name ?? "",
            Identity = identity ?? new FunctionIdentity(),
            Bars = bars,
            ExpansionRomSize = rom,
            Capabilities = caps,
            DeviceKind = kind,
            Settings = settings,
            Path = path,
        };
        return (model, autoOffset);
    }

    // ───────────────────────────── BARs ─────────────────────────────

    /// <summary>
    /// BARs of a function or VF BARs of a PF (§7.5.1.2.1, §9.3.3): index 0..5, a power-of-two size,
    /// a 64-bit BAR taking the next register too. Sorted by index.
    /// </summary>
    IReadOnlyList<BarDefinition> ParseBars(ObjectReader parent, string property, bool forVf, out HashSet<int> broken)
    {
        var bars = new List<BarDefinition>();
        broken = []; // indices declared with an error already reported; checks that refer to them stay quiet
        var taken = new Dictionary<int, string>(); // register index → who uses it
        string what = forVf ? "VF BAR" : "BAR";
        foreach (var (e, path) in parent.Array(property))
        {
            var r = new ObjectReader(ctx, e, path, "index", "kind", "prefetchable", "size");
            if (!r.IsObject) continue;
            var index = r.Number("index", 0, 5, required: true);
            var kind = r.Keyword("kind", BarKinds, required: true);
            bool prefetchable = r.Bool("prefetchable", false);
            var size = r.Number("size", 1, ulong.MaxValue, required: true);
            bool ok = index != null && kind != null && size != null;

            if (kind == BarKind.Io && prefetchable)
            {
                ctx.Error(r.PathOf("prefetchable"), "an I/O BAR cannot be prefetchable");
                ok = false;
            }
            if (forVf && kind == BarKind.Io)
            {
                ctx.Error(r.PathOf("kind"), "VF BARs decode memory only; VFs have no I/O space (§9.3.3)");
                ok = false;
            }
            if (size is { } sv && kind is { } k && !(forVf && k == BarKind.Io) && !CheckBarSize(r.PathOf("size"), sv, k, forVf)) ok = false;
            if (index is { } iv && kind == BarKind.Memory64 && iv.Value == 5)
            {
                ctx.Error(r.PathOf("index"), $"a 64-bit {what} takes two registers and cannot start at index 5");
                ok = false;
            }
            if (index is { } ix)
            {
                int i = (int)ix.Value;
                if (taken.TryGetValue(i, out var owner))
                {
                    ctx.Error(r.PathOf("index"), $"{what}{i} is already used by {owner}");
                    ok = false;
                }
                else if (kind == BarKind.Memory64 && i < 5 && taken.TryGetValue(i + 1, out var next))
                {
                    ctx.Error(r.PathOf("index"), $"the 64-bit {what}{i} also needs register {i + 1}, which is already used by {next}");
                    ok = false;
                }
                else
                {
                    taken[i] = path;
                    if (kind == BarKind.Memory64 && i < 5) taken[i + 1] = $"{path} (upper half of the 64-bit {what}{i})";
                }
            }
            if (ok) bars.Add(new BarDefinition((int)index!.Value.Value, kind!.Value, size!.Value.Value, prefetchable));
            else if (index is { } bi) broken.Add((int)bi.Value);
        }
        bars.Sort((a, b) => a.Index.CompareTo(b.Index));
        return bars.AsReadOnly();
    }

    bool CheckBarSize(string path, Num size, BarKind kind, bool forVf)
    {
        string? error = null;
        if (!BitOperations.IsPow2(size.Value)) error = $"{size.Text} is not a power of two";
        else if (kind == BarKind.Io && (size.Value < 4 || size.Value > 256)) error = $"{size.Text} is outside 4..256 bytes, the sizes of an I/O BAR";
        else if (forVf && size.Value < 4 * KiB) error = $"{size.Text} is below 4 KiB: each VF's BAR space is allocated in System Page Size units (at least 4 KiB, §9.3.3)";
        else if (kind != BarKind.Io && size.Value < 16) error = $"{size.Text} is below 16 bytes, the smallest memory BAR";
        else if (kind == BarKind.Memory32 && size.Value > 2UL << 30) error = $"{size.Text} is above 2 GiB, the largest 32-bit BAR";
        else if (kind == BarKind.Memory64 && size.Value > 1UL << 63) error = $"{size.Text} is above 2^63, the largest 64-bit BAR";
        if (error != null) ctx.Error(path, error);
        return error == null;
    }

    // ───────────────────────────── capabilities ─────────────────────────────

    (CapabilitiesModel, bool AutoOffset) ParseCapabilities(ObjectReader r, IReadOnlyList<BarDefinition> bars, HashSet<int> brokenBars, int functionNumber)
    {
        PowerManagementModel? pm = null;
        if (r.Object("pm", false, "d1", "d2", "pmeSupport", "noSoftReset") is { IsObject: true } pr)
        {
            var d = new PowerManagementModel();
            bool d1 = pr.Bool("d1", false), d2 = pr.Bool("d2", false);
            var pme = PmeSupport.None;
            foreach (var (se, sp) in pr.Array("pmeSupport"))
            {
                if (ObjectReader.ReadKeyword(ctx, se, sp, PmeStateNames) is not { } st) continue;
                if ((st == PmeSupport.D1 && !d1) || (st == PmeSupport.D2 && !d2))
                    ctx.Error(sp, $"PME from {se.GetString()} needs {se.GetString()} support (set \"{se.GetString()!.ToLowerInvariant()}\": true)");
                pme |= st;
            }
            pm = new PowerManagementModel { D1Support = d1, D2Support = d2, PmeSupport = pme, NoSoftReset = pr.Bool("noSoftReset", d.NoSoftReset) };
        }

        MsiModel? msi = null;
        if (r.Object("msi", false, "vectors", "is64Bit", "perVectorMask") is { IsObject: true } mr)
        {
            var d = new MsiModel();
            int vectors = d.Vectors;
            if (mr.Number("vectors", 1, 32) is { } v)
            {
                if (BitOperations.IsPow2(v.Value)) vectors = (int)v.Value;
                else ctx.Error(mr.PathOf("vectors"), $"{v.Text} is not a power of two (MSI requests 1, 2, 4, 8, 16 or 32 vectors)");
            }
            msi = new MsiModel { Vectors = vectors, Is64Bit = mr.Bool("is64Bit", d.Is64Bit), PerVectorMask = mr.Bool("perVectorMask", d.PerVectorMask) };
        }

        var msix = r.Object("msix", false, MsixProperties) is { IsObject: true } xr ? ParseMsix(xr, bars, brokenBars, forVf: false) : null;

        var pcie = new PcieCapabilityModel();
        if (r.Object("pcie", false, "maxPayload", "flr", "extendedTag") is { IsObject: true } cr)
        {
            int mps = pcie.MaxPayload;
            if (cr.Number("maxPayload", 128, 4096) is { } m)
            {
                if (BitOperations.IsPow2(m.Value)) mps = (int)m.Value;
                else ctx.Error(cr.PathOf("maxPayload"), $"{m.Text} is not a power of two (128, 256, 512, 1024, 2048 or 4096)");
            }
            pcie = new PcieCapabilityModel { MaxPayload = mps, Flr = cr.Bool("flr", pcie.Flr), ExtendedTag = cr.Bool("extendedTag", pcie.ExtendedTag) };
        }

        AerModel? aer = null;
        if (r.Object("aer", false, "ecrcGeneration", "ecrcCheck") is { IsObject: true } ar)
            aer = new AerModel { EcrcGeneration = ar.Bool("ecrcGeneration", false), EcrcCheck = ar.Bool("ecrcCheck", false) };

        var acs = r.Object("acs", false, "features", "egressControlVectorSize") is { } acr ? ParseAcs(acr, forPort: false) : null;
        bool ari = r.Bool("ari", false);
        ulong? dsn = r.Number("dsn", 0, ulong.MaxValue)?.Value;

        SriovModel? sriov = null;
        bool auto = false;
        if (r.Object("sriov", false, SriovProperties) is { IsObject: true } sr)
            (sriov, auto) = ParseSriov(sr, functionNumber);

        var caps = new CapabilitiesModel
        {
            PowerManagement = pm, Msi = msi, Msix = msix, Pcie = pcie, Aer = aer, Acs = acs, Ari = ari,
            DeviceSerialNumber = dsn, Sriov = sriov,
        };
        return (caps, auto);
    }

    static readonly string[] MsixProperties = ["tableSize", "tableBar", "tableOffset", "pbaBar", "pbaOffset"];

    static readonly string[] SriovProperties =
    [
        "initialVfs", "totalVfs", "vfDeviceId", "firstVfOffset", "vfStride", "supportedPageSizes",
        "functionDependencyLink", "vfMigration", "vfBars", "vfMsix",
    ];

    /// <summary>
    /// MSI-X (§7.7.2): the table (16 bytes per entry) and the PBA (8 bytes per 64 entries) each lie
    /// inside an implemented memory BAR at a QWORD-aligned offset, and do not overlap.
    /// </summary>
    MsixModel? ParseMsix(ObjectReader r, IReadOnlyList<BarDefinition> bars, HashSet<int> brokenBars, bool forVf)
    {
        var size = r.Number("tableSize", 1, 2048, required: true);
        var tableBar = r.Number("tableBar", 0, 5, required: true);
        var tableOffset = r.Number("tableOffset", 0, uint.MaxValue, required: true);
        var pbaBar = r.Number("pbaBar", 0, 5) ?? tableBar;
        var pbaOffset = r.Number("pbaOffset", 0, uint.MaxValue, required: true);
        bool ok = size != null && tableBar != null && tableOffset != null && pbaBar != null && pbaOffset != null;
        // The low 3 bits of the offset registers hold the BIR.
        foreach (var (name, value) in new[] { ("tableOffset", tableOffset), ("pbaOffset", pbaOffset) })
            if (value is { } v && (v.Value & 7) != 0)
            {
                ctx.Error(r.PathOf(name), $"{v.Text} is not 8-byte aligned (the low 3 bits of the register hold the BIR)");
                ok = false;
            }
        if (!ok) return null;

        var model = new MsixModel
        {
            TableSize = (int)size!.Value.Value,
            TableBar = (int)tableBar!.Value.Value,
            TableOffset = (uint)tableOffset!.Value.Value,
            PbaBar = (int)pbaBar!.Value.Value,
            PbaOffset = (uint)pbaOffset!.Value.Value,
        };
        string what = forVf ? "VF BAR" : "BAR";
        // A BAR problem is reported once even when the table and the PBA share the BAR.
        bool tableBarOk = CheckMsixBar(r, "tableBar", "the MSI-X table", model.TableBar, bars, brokenBars, what);
        bool pbaBarOk = model.PbaBar == model.TableBar
            ? tableBarOk
            : CheckMsixBar(r, "pbaBar", "the PBA", model.PbaBar, bars, brokenBars, what);
        bool tableFits = tableBarOk && CheckMsixFits(r, "tableOffset", "the MSI-X table", model.TableBar, model.TableOffset, model.TableBytes, bars, what);
        bool pbaFits = pbaBarOk && CheckMsixFits(r, "pbaOffset", "the PBA", model.PbaBar, model.PbaOffset, model.PbaBytes, bars, what);
        if (tableFits && pbaFits && model.TableBar == model.PbaBar
            && new AddressRange(model.TableOffset, model.TableBytes).Overlaps(new AddressRange(model.PbaOffset, model.PbaBytes)))
            ctx.Error(r.PathOf("pbaOffset"), $"the PBA at 0x{model.PbaOffset:x} ({model.PbaBytes} bytes) overlaps the MSI-X table at 0x{model.TableOffset:x} ({model.TableBytes} bytes)");
        return model;
    }

    /// <summary>The BAR holding an MSI-X structure must be an implemented memory BAR (named by its first register).</summary>
    bool CheckMsixBar(ObjectReader r, string barProperty, string region, int barIndex, IReadOnlyList<BarDefinition> bars, HashSet<int> brokenBars, string what)
    {
        if (brokenBars.Contains(barIndex)) return false;
        var bar = bars.FirstOrDefault(b => b.Index == barIndex);
        if (bar == null)
        {
            var lower = bars.FirstOrDefault(b => b.Index == barIndex - 1 && b.Is64Bit);
            ctx.Error(r.PathOf(barProperty), lower != null
                ? $"{what}{barIndex} is the upper half of the 64-bit {what}{barIndex - 1}; {region} must name the BAR's first register"
                : $"{what}{barIndex} is not implemented; {region} must lie in a memory BAR");
            return false;
        }
        if (!bar.IsMemory)
        {
            ctx.Error(r.PathOf(barProperty), $"{what}{barIndex} is an I/O BAR; {region} must lie in memory space");
            return false;
        }
        return true;
    }

    bool CheckMsixFits(ObjectReader r, string offsetProperty, string region, int barIndex, uint offset, uint length, IReadOnlyList<BarDefinition> bars, string what)
    {
        var bar = bars.First(b => b.Index == barIndex);
        if ((ulong)offset + length <= bar.Size) return true;
        ctx.Error(r.PathOf(offsetProperty), $"{region} at 0x{offset:x} ({length} bytes) does not fit in {what}{barIndex} of {ModelNumber.FormatSize(bar.Size)}");
        return false;
    }

    (SriovModel?, bool AutoOffset) ParseSriov(ObjectReader r, int functionNumber)
    {
        var total = r.Number("totalVfs", 1, 0xFFFF, required: true);
        bool migration = r.Bool("vfMigration", false);
        var initial = r.Number("initialVfs", 0, 0xFFFF);
        if (initial is { } iv && total is { } tv)
        {
            if (iv.Value > tv.Value)
                ctx.Error(r.PathOf("initialVfs"), $"{iv.Text} is above totalVfs {tv.Text}");
            else if (iv.Value != tv.Value && !migration)
                ctx.Error(r.PathOf("initialVfs"), $"{iv.Text} differs from totalVfs {tv.Text}; InitialVFs equals TotalVFs unless VF Migration is supported (§9.3.3)");
        }
        var vfDevice = r.Number("vfDeviceId", 0, 0xFFFF, required: true);

        bool auto = true;
        int offset = 0;
        if (r.Get("firstVfOffset") is { } oe)
        {
            if (oe.ValueKind == JsonValueKind.String && oe.GetString() == "auto") auto = true;
            else
            {
                auto = false;
                offset = (int)(ctx.Number(oe, r.PathOf("firstVfOffset"), 1, 0xFFFF)?.Value ?? 1);
            }
        }
        int stride = r.Int("vfStride", 0, 0xFFFF, 1);
        if (stride == 0 && total is { Value: > 1 })
            ctx.Error(r.PathOf("vfStride"), "VF Stride 0 would put every VF on the same routing ID; it must be at least 1 when totalVfs > 1");
        else if (total is { } t && (long)(t.Value - 1) * stride > 0xFFFF)
        {
            // Routing IDs are 16 bits: the VFs cannot span more than that (and later sums stay in int range).
            ctx.Error(r.PathOf("vfStride"), $"{t.Text} VFs {stride} apart span more than the 16-bit routing ID space");
            total = null; // no routing analysis on top of this
        }

        uint pageSizes = SriovModel.RequiredPageSizes;
        if (r.Get("supportedPageSizes") is { } pe)
        {
            var pp = r.PathOf("supportedPageSizes");
            if (pe.ValueKind == JsonValueKind.Array)
            {
                pageSizes = 0;
                foreach (var (se, sp) in pe.EnumerateArray().Select((x, i) => (x, JsonPaths.Index(pp, i))))
                {
                    if (ctx.Number(se, sp, 4 * KiB, 1UL << 43) is not { } ps) continue;
                    if (!BitOperations.IsPow2(ps.Value)) ctx.Error(sp, $"{ps.Text} is not a power of two");
                    else pageSizes |= 1u << (BitOperations.Log2(ps.Value) - 12);
                }
            }
            else pageSizes = (uint)(ctx.Number(pe, pp, 1, uint.MaxValue)?.Value ?? SriovModel.RequiredPageSizes);
            uint missing = SriovModel.RequiredPageSizes & ~pageSizes;
            if (missing != 0)
            {
                var names = Enumerable.Range(0, 32).Where(b => (missing >> b & 1) != 0).Select(b => ModelNumber.FormatSize(1UL << (b + 12)));
                ctx.Error(pp, $"must include 4 KiB, 8 KiB, 64 KiB, 256 KiB, 1 MiB and 4 MiB, which every PF supports (§9.3.3); missing: {string.Join(", ", names)}");
            }
        }
        int dependency = r.Int("functionDependencyLink", 0, 255, functionNumber);
        var vfBars = ParseBars(r, "vfBars", forVf: true, out var brokenVfBars);
        var vfMsix = r.Object("vfMsix", false, MsixProperties) is { IsObject: true } xr ? ParseMsix(xr, vfBars, brokenVfBars, forVf: true) : null;

        if (total == null || vfDevice == null) return (null, false);
        var model = new SriovModel
        {
            InitialVfs = (int)(initial?.Value ?? total.Value.Value),
            TotalVfs = (int)total.Value.Value,
            VfDeviceId = (ushort)vfDevice.Value.Value,
            FirstVfOffset = auto ? 0 : offset,
            VfStride = stride,
            SupportedPageSizes = pageSizes,
            FunctionDependencyLink = dependency,
            VfMigration = migration,
            VfBars = vfBars,
            VfMsix = vfMsix,
            Path = r.Path,
        };
        return (model, auto);
    }
}
