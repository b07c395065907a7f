using System.Globalization;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Explain;

/// <summary>A field's live state in one function: value, what the masks make of it, and how that compares with the spec.</summary>
/// <param name="Field">The field.</param>
/// <param name="Value">Its current value (shifted down).</param>
/// <param name="Declared">The spec's access for this function (VF column for a VF).</param>
/// <param name="Effective">The access as the live masks implement it, in spec words.</param>
/// <param name="Note">Why Effective differs from Declared, or null.</param>
public sealed record FieldState(RegisterField Field, uint Value, FieldAccess Declared, string Effective, string? Note);

/// <summary>
/// Explains a function's configuration registers field by field: value, access (from the live writable /
/// RW1C / sticky masks), meaning and spec section; and for a VF, the arithmetic that placed it.
/// </summary>
public static class Explainer
{
    /// <summary>Reads a register of 1..4 bytes (Class Code is 3) without the access-width rules of config requests.</summary>
    public static uint ReadRegister(ConfigSpace config, int at, int width)
    {
        var b = config.Bytes;
        uint v = 0;
        for (int i = 0; i < width; i++) v |= (uint)b[at + i] << (8 * i);
        return v;
    }

    static bool Writable(FieldAccess a) => a is FieldAccess.RW or FieldAccess.RWS or FieldAccess.RW1C or FieldAccess.RW1CS;

    /// <summary>The live state of <paramref name="field"/> of the register <paramref name="register"/>.</summary>
    public static FieldState Describe(PciFunction function, PlacedRegister register, RegisterField field)
    {
        var c = function.Config;
        int at = register.At, w = register.Table.Width;
        uint m = field.Mask;
        uint value = field.ValueIn(ReadRegister(c, at, w));
        uint wr = c.WritableMask(at, w) & m, w1c = c.W1cMask(at, w) & m, st = c.StickyMask(at, w) & m;
        var declared = field.AccessFor(function);
        string sticky = st == m ? "S" : "";
        string effective;
        string? note = null;
        if (w1c == m) effective = "RW1C" + sticky;
        else if (wr == m) effective = "RW" + sticky;
        else if (wr != 0 || w1c != 0)
        {
            effective = (w1c != 0 ? "RW1C" : "RW") + sticky;
            note = $"only bits 0x{(wr | w1c) >> field.Low:x} of the field are writable here";
        }
        else if (Writable(declared) && (field.Flags & FieldFlags.WriteAction) != 0 && (field.ImplementedWhen?.Invoke(function, at) ?? true))
        {
            effective = declared.ToString();
            note = "a write of 1 starts the action; the field always reads 0";
        }
        else if (Writable(declared))
        {
            effective = "RO";
            note = $"spec: {declared}; not writable here: feature absent, or locked in this state";
        }
        else effective = declared.ToString();
        if (note == null && !Writable(declared) && (wr != 0 || w1c != 0))
            note = $"spec: {declared}";
        return new FieldState(field, value, declared, effective, note);
    }

    /// <summary>Writes one register: a line with its name, offset, width, value and section, then every field.</summary>
    public static void WriteRegister(TextWriter w, PciFunction function, PlacedRegister r)
    {
        var t = r.Table;
        uint v = ReadRegister(function.Config, r.At, t.Width);
        string where = r.Capability is { } cap ? $"{cap.Name} +0x{t.Offset:x2}, " : "";
        w.WriteLine($"{t.Name} [{t.Short}] ({where}offset 0x{r.At:x3}, {t.Width * 8} bits) = 0x{v.ToString("x" + (t.Width * 2), CultureInfo.InvariantCulture)}   PCIe Base Spec {t.Section}");
        foreach (var f in t.Fields)
        {
            var s = Describe(function, r, f);
            string bits = f.Low == f.High ? $"[{f.Low}]" : $"[{f.High}:{f.Low}]";
            string val = f.High - f.Low >= 3 ? $"0x{s.Value:x}" : s.Value.ToString(CultureInfo.InvariantCulture);
            string? decoded = f.Decode?.Invoke(s.Value);
            if (decoded != null) val += $" ({decoded})";
            w.WriteLine($"  {bits,-8} {f.Name} = {val}   {s.Effective}{(s.Note != null ? $" ({s.Note})" : "")}");
            w.WriteLine($"           {f.Meaning}");
        }
    }

    /// <summary>Writes every register of one installed capability.</summary>
    public static void WriteCapability(TextWriter w, PciFunction function, PciCapability capability)
    {
        var table = ExplainCatalog.Find(capability.Id, capability.IsExtended);
        string id = capability.IsExtended ? $"extended ID 0x{capability.Id:x4}, version {capability.Version}" : $"ID 0x{capability.Id:x2}";
        w.WriteLine($"{function.Bdf} {capability.Name} capability at 0x{capability.Offset:x3} ({id}, {capability.Length} bytes)   PCIe Base Spec {table?.Section ?? "?"}");
        if (table == null)
        {
            w.WriteLine("  (no field table for this capability yet)");
            return;
        }
        foreach (var r in ExplainCatalog.CapabilityRegisters(function, capability))
        {
            w.WriteLine();
            WriteRegister(w, function, r);
        }
    }

    /// <summary>Writes a summary: identity, header registers in brief, BARs, the capability lists with offsets, and a VF's placement.</summary>
    public static void WriteSummary(TextWriter w, PciFunction function)
    {
        var c = function.Config;
        w.WriteLine($"{function.Bdf} {function.Name}: Type {function.HeaderLayout} header{(function.IsVirtualFunction ? ", SR-IOV virtual function" : "")}");
        if (function is VirtualFunction vf)
            w.WriteLine($"  Vendor ID 0x{c.Read16(0):x4} / Device ID 0x{c.Read16(2):x4} (a VF reads FFFFh; presented as {vf.PresentedVendorId:x4}:{vf.PresentedDeviceId:x4})");
        else
            w.WriteLine($"  Vendor ID 0x{c.Read16(0):x4}, Device ID 0x{c.Read16(2):x4}");
        w.WriteLine($"  Class Code 0x{ReadRegister(c, 9, 3):x6}, Revision 0x{c.Read8(8):x2}");
        w.WriteLine($"  Command 0x{c.Read16(4):x4}: {SetBits(function, 0x04)}");
        w.WriteLine($"  Status  0x{c.Read16(6):x4}: {SetBits(function, 0x06)}");
        if (function is BridgeFunction br)
        {
            w.WriteLine($"  Buses: primary {br.PrimaryBus:x2}, secondary {br.SecondaryBus:x2}, subordinate {br.SubordinateBus:x2}");
            w.WriteLine($"  Windows: memory {Window(br.MemoryWindow)}, prefetchable {Window(br.PrefetchableWindow)}, I/O {Window(br.IoWindow)}");
        }
        for (int i = 0; i < function.Bars.Length; i++)
            if (function.Bars[i] is { } b && b.Kind != BarKind.None)
                w.WriteLine($"  BAR{i}: {b.Kind}{(b.Prefetchable ? " prefetchable" : "")}, {b.Size:#,0} bytes at 0x{function.BarAddress(i):x}");
        w.WriteLine("  Capabilities (offset, ID, name, explain with):");
        foreach (var cap in function.Capabilities)
        {
            var t = ExplainCatalog.Find(cap.Id, cap.IsExtended);
            string id = cap.IsExtended ? $"ECAP 0x{cap.Id:x4}" : $"CAP 0x{cap.Id:x2}";
            w.WriteLine($"    0x{cap.Offset:x3}  {id,-11}  {cap.Name,-40} {(t != null ? t.Aliases[0] : "(no field table)")}");
        }
        if (function.FindCapability<SriovCapability>() is { } sriov) WriteSriovSummary(w, function, sriov);
        if (function is VirtualFunction v) { w.WriteLine(); WriteVfPlacement(w, v); }
    }

    static void WriteSriovSummary(TextWriter w, PciFunction pf, SriovCapability s)
    {
        w.WriteLine($"  SR-IOV: TotalVFs {s.TotalVfs}, NumVFs {s.NumVfs}, VF Enable {(s.VfEnable ? 1 : 0)}, First VF Offset {s.FirstVfOffset}, VF Stride {s.VfStride}");
        if (s.NumVfs == 0) return;
        // VF n answers at PF + First VF Offset + (n-1) × VF Stride (§9.3.3.9-10).
        var first = s.VfRoutingId(1, pf.Bdf);
        var last = s.VfRoutingId(s.NumVfs, pf.Bdf);
        w.WriteLine($"  VFs {(s.VfEnable ? "at" : "would be at")} {first} (VF 1) .. {last} (VF {s.NumVfs}); 'explain' a VF for its placement arithmetic");
    }

    static string Window(AddressWindow win) => win.IsEnabled ? $"0x{win.Base:x}-0x{win.Limit:x}" : "disabled";

    static string SetBits(PciFunction f, int offset)
    {
        var r = ExplainCatalog.HeaderRegisters(f).First(p => p.At == offset);
        uint v = ReadRegister(f.Config, offset, r.Table.Width);
        var names = r.Table.Fields.Where(x => x.Low == x.High && (v & x.Mask) != 0).Select(x => x.Name).ToList();
        return names.Count == 0 ? "(none set)" : string.Join(", ", names);
    }

    /// <summary>
    /// How the PF's SR-IOV capability placed this VF: routing ID = PF routing ID + First VF Offset + (n−1) × VF Stride
    /// (§9.3.3.9-10), and each BAR = PF's VF BARk + (n−1) × per-VF size (§9.3.3.14), with the numbers.
    /// </summary>
    public static void WriteVfPlacement(TextWriter w, VirtualFunction vf)
    {
        var s = vf.Sriov;
        var pf = vf.PhysicalFunction;
        int n = vf.VfNumber;
        w.WriteLine($"VF placement: VF {n} of PF {pf.Bdf} (SR-IOV capability at 0x{s.Offset:x3}; NumVFs {s.NumVfs}, First VF Offset {s.FirstVfOffset}, VF Stride {s.VfStride})");
        int rid = pf.Bdf.Value + s.FirstVfOffset + (n - 1) * s.VfStride;
        var placed = new Bdf((ushort)rid);
        w.WriteLine("  Routing ID = PF RID + First VF Offset + (n-1) × VF Stride   (§9.3.3.9, §9.3.3.10)");
        w.WriteLine($"             = 0x{pf.Bdf.Value:x4} + {s.FirstVfOffset} + ({n}-1) × {s.VfStride} = 0x{rid & 0xFFFF:x4} = {placed}{(placed == vf.Bdf ? "" : $" (the fabric has it at {vf.Bdf}!)")}");
        for (int i = 0; i < 6; i++)
        {
            if (s.VfBarDefinition(i) is not { } def) continue;
            ulong size = s.VfBarSize(i), baseAddr = s.VfBarBase(i);
            w.WriteLine($"  BAR{i} = PF VF BAR{i} + (n-1) × per-VF size   (§9.3.3.14; per-VF size = max({def.Size:#,0}, System Page Size {s.SystemPageSizeBytes:#,0}))");
            if (baseAddr == 0) { w.WriteLine($"       = unassigned (VF BAR{i} is 0)"); continue; }
            ulong addr = baseAddr + (ulong)(n - 1) * size;
            w.WriteLine($"       = 0x{baseAddr:x} + ({n}-1) × 0x{size:x} = 0x{addr:x} .. 0x{addr + size - 1:x}");
        }
        w.WriteLine($"  VF memory decoding follows the PF's VF MSE (now {(s.VfMemorySpaceEnable ? "set" : "clear")}), not the VF's own Command register (§9.3.3.3.4).");
    }
}
