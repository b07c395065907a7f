using System.Numerics;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Capabilities;

/// <summary>
/// Single Root I/O Virtualization extended capability (ID 0010h, version 1, 40h bytes; PCIe Base Spec
/// §9.3.3) and the lifetime of the PF's virtual functions.
/// <para>Register semantics come from masks: NumVFs and System Page Size are writable only while VF
/// Enable is clear, ARI Capable Hierarchy only in the lowest-numbered PF and only while no PF of the
/// device has VF Enable set, and the VF BARs' writable bits follow the per-VF size, which is at least
/// System Page Size. The masks are recomputed when VF Enable or System Page Size changes.</para>
/// <para>Setting VF Enable with NumVFs &gt; 0 creates NumVFs <see cref="VirtualFunction"/>s (through
/// <see cref="VirtualFunctionFactory"/>) at routing ID PF + First VF Offset + (n−1)·VF Stride and raises
/// <see cref="VfsEnabled"/>; clearing it, or any reset of the PF, destroys them and raises
/// <see cref="VfsDisabled"/>. Placing VFs on buses and routing requests to them is the fabric's job.</para>
/// <para>Choices where the spec says "undefined": NumVFs &gt; TotalVFs, NumVFs or System Page Size
/// written while VF Enable is set, a System Page Size that is not exactly one supported bit, and an ARI
/// Capable Hierarchy change while VFs are enabled are all ignored (the register keeps its value) and
/// logged.</para>
/// </summary>
public sealed class SriovCapability : PciExtendedCapability
{
    // Register offsets from the capability header (§9.3.3, Figure 9-11).
    const int CapsReg = 0x04, ControlReg = 0x08, StatusReg = 0x0A, InitialVfsReg = 0x0C, TotalVfsReg = 0x0E,
        NumVfsReg = 0x10, DependencyLinkReg = 0x12, FirstVfOffsetReg = 0x14, VfStrideReg = 0x16, VfDeviceIdReg = 0x1A,
        SupportedPageSizesReg = 0x1C, SystemPageSizeReg = 0x20, VfBar0Reg = 0x24, MigrationStateArrayReg = 0x3C;

    // SR-IOV Capabilities (§9.3.3.2)
    const uint VfMigrationCapableBit = 1 << 0, AriPreservedBit = 1 << 1, Vf10BitTagSupportedBit = 1 << 2;
    // SR-IOV Control (§9.3.3.3)
    const uint VfEnableBit = 1 << 0, VfMigrationEnableBit = 1 << 1, VfMigrationInterruptEnableBit = 1 << 2,
        VfMseBit = 1 << 3, AriCapableHierarchyBit = 1 << 4, Vf10BitTagEnableBit = 1 << 5;
    // SR-IOV Status (§9.3.3.4)
    const uint VfMigrationStatusBit = 1 << 0;

    readonly BarDefinition?[] _vfBars = new BarDefinition?[6];
    readonly ulong[] _vfBarSizes = new ulong[6];
    readonly List<VirtualFunction> _vfs = [];
    readonly List<SriovCapability> _followers = [];
    readonly Func<VfRoutingContext, VfRouting> _rule;
    SriovCapability? _lowestPf;
    ulong _vfEnableTime;

    public SriovCapability(SriovOptions options)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        Validate(options);
        foreach (var b in options.VfBars) _vfBars[b.Index] = b;
        _rule = options.RoutingRule
            ?? (options.FirstVfOffset is { } off && options.VfStride is { } stride ? VfRoutingRules.Fixed(off, stride) : VfRoutingRules.Default);
    }

    public SriovOptions Options { get; }
    public override ushort Id => CapabilityIds.SingleRootIov;
    public override string Name => "Single Root I/O Virtualization";
    public override int Length => 0x40;

    /// <summary>
    /// Builds VF number vfIndex+1 (0-based index) when VF Enable is set. Default: a plain
    /// <see cref="VirtualFunction"/> with the standard VF capabilities. A device model returns its own
    /// subclass (sealed or not; the capability seals it).
    /// </summary>
    public Func<SriovCapability, int, VirtualFunction>? VirtualFunctionFactory { get; init; }

    /// <summary>Virtual time in nanoseconds, supplied by the fabric; the capability records when VFs were enabled. Default: always 0.</summary>
    public Func<ulong> Clock { get; set; } = static () => 0;

    /// <summary>Raised after VF Enable went 0→1 with NumVFs &gt; 0 and the VFs were created (the list is <see cref="VirtualFunctions"/>).</summary>
    public event Action<SriovCapability, IReadOnlyList<VirtualFunction>>? VfsEnabled;
    /// <summary>Raised after the VFs were destroyed (VF Enable cleared, or the PF reset); the list holds the removed VFs.</summary>
    public event Action<SriovCapability, IReadOnlyList<VirtualFunction>>? VfsDisabled;
    /// <summary>Raised after VF MSE, a VF BAR or System Page Size changed: the VFs' memory decoding may differ.</summary>
    public event Action<SriovCapability>? VfMemoryChanged;

    // ---- Register state ----

    public ushort InitialVfs => (ushort)Reg(InitialVfsReg, 2);
    public ushort TotalVfs => (ushort)Reg(TotalVfsReg, 2);
    public ushort NumVfs => (ushort)Reg(NumVfsReg, 2);
    public byte FunctionDependencyLink => (byte)Reg(DependencyLinkReg, 1);
    public ushort FirstVfOffset => (ushort)Reg(FirstVfOffsetReg, 2);
    public ushort VfStride => (ushort)Reg(VfStrideReg, 2);
    public ushort VfDeviceId => (ushort)Reg(VfDeviceIdReg, 2);
    public uint SupportedPageSizes => Reg(SupportedPageSizesReg, 4);
    /// <summary>System Page Size register (one bit n: 2^(n+12) bytes).</summary>
    public uint SystemPageSize => Reg(SystemPageSizeReg, 4);
    /// <summary>System Page Size in bytes.</summary>
    public ulong SystemPageSizeBytes => 4096UL << BitOperations.TrailingZeroCount(SystemPageSize | 0x8000_0000u);
    public bool VfEnable => (Reg(ControlReg, 2) & VfEnableBit) != 0;
    /// <summary>VF MSE: memory decoding of every VF of this PF (§9.3.3.3.4).</summary>
    public bool VfMemorySpaceEnable => (Reg(ControlReg, 2) & VfMseBit) != 0;
    public bool VfMigrationEnable => (Reg(ControlReg, 2) & VfMigrationEnableBit) != 0;
    public bool VfMigrationInterruptEnable => (Reg(ControlReg, 2) & VfMigrationInterruptEnableBit) != 0;
    public bool Vf10BitTagRequesterEnable => (Reg(ControlReg, 2) & Vf10BitTagEnableBit) != 0;
    public bool VfMigrationStatus => (Reg(StatusReg, 2) & VfMigrationStatusBit) != 0;
    /// <summary>True for the device's lowest-numbered PF, whose ARI Capable Hierarchy bit the device follows.</summary>
    public bool IsLowestPf => Options.PfIndex == 0;
    /// <summary>The ARI Capable Hierarchy that applies to this PF: the lowest-numbered PF's bit (§9.3.3.3.5).</summary>
    public bool AriCapableHierarchy => _lowestPf != null ? _lowestPf.AriCapableHierarchy : (Reg(ControlReg, 2) & AriCapableHierarchyBit) != 0;

    /// <summary>The VFs that exist now (VF Enable set, NumVFs of them), by 0-based index.</summary>
    public IReadOnlyList<VirtualFunction> VirtualFunctions => _vfs;

    // ---- Settle time after VF Enable (§9.3.3.3.1) ----

    /// <summary>Clock value when VF Enable last created VFs.</summary>
    public ulong VfEnableTimeNs => _vfEnableTime;
    /// <summary>From this time on the VFs complete configuration requests successfully.</summary>
    public ulong VfConfigReadyTimeNs => _vfEnableTime + Options.VfEnableSettleTimeNs;

    /// <summary>
    /// False while VFs exist but are still initialising at <paramref name="nowNs"/>: the fabric then completes
    /// configuration requests to them with Request Retry Status, as the spec permits up to 1 s after VF Enable.
    /// </summary>
    public bool IsVfConfigReady(ulong nowNs) =>
        _vfs.Count > 0 && nowNs >= _vfEnableTime && nowNs - _vfEnableTime >= Options.VfEnableSettleTimeNs;

    // ---- VF BARs and routing IDs ----

    /// <summary>The VF BAR declared at <paramref name="bar"/> with its declared (not page-rounded) size, or null.</summary>
    public BarDefinition? VfBarDefinition(int bar) => (uint)bar < 6 ? _vfBars[bar] : null;

    /// <summary>Bytes one VF's BAR <paramref name="bar"/> decodes: max(declared size, System Page Size); 0 if not implemented.</summary>
    public ulong VfBarSize(int bar) => (uint)bar < 6 ? _vfBarSizes[bar] : 0;

    /// <summary>The address programmed in VF BAR <paramref name="bar"/> (both halves of a 64-bit pair): VF 1's BAR base.</summary>
    public ulong VfBarBase(int bar)
    {
        var b = VfBarDefinition(bar);
        if (b == null) return 0;
        ulong addr = Reg(VfBar0Reg + 4 * bar, 4) & ~0xFu;
        if (b.Is64Bit) addr |= (ulong)Reg(VfBar0Reg + 4 * bar + 4, 4) << 32;
        return addr;
    }

    /// <summary>Base of BAR <paramref name="bar"/> of the VF with 0-based index <paramref name="vfIndex"/>: VF BARn + index × per-VF size (§9.3.3.14).</summary>
    public ulong VfBarAddress(int bar, int vfIndex) => VfBarBase(bar) + (ulong)vfIndex * VfBarSize(bar);

    /// <summary>Routing-ID offset of VF <paramref name="n"/> (1-based, as the spec numbers VFs) from its PF.</summary>
    public ushort VfRoutingOffset(int n) => (ushort)(FirstVfOffset + (n - 1) * VfStride);

    /// <summary>Routing ID of VF <paramref name="n"/> (1-based): PF + First VF Offset + (n−1)·VF Stride in 16-bit arithmetic (§9.3.3.9-10).</summary>
    public Bdf VfRoutingId(int n, Bdf pfRoutingId) => pfRoutingId.Offset(VfRoutingOffset(n));

    /// <summary>The highest bus number the current NumVFs VFs occupy below a PF at <paramref name="pfRoutingId"/>.</summary>
    public int LastVfBus(Bdf pfRoutingId)
    {
        int last = pfRoutingId.Bus;
        for (int n = 1; n <= NumVfs; n++) last = Math.Max(last, VfRoutingId(n, pfRoutingId).Bus);
        return last;
    }

    /// <summary>The VF whose routing ID is <paramref name="routingId"/>, found arithmetically. Allocation-free.</summary>
    public bool TryGetVirtualFunction(Bdf routingId, out VirtualFunction? vf)
    {
        vf = null;
        if (_vfs.Count == 0) return false;
        int delta = (ushort)(routingId.Value - Function.Bdf.Value - FirstVfOffset);
        int stride = VfStride;
        int index = stride == 0 ? (delta == 0 ? 0 : -1) : (delta % stride == 0 ? delta / stride : -1);
        if ((uint)index >= (uint)_vfs.Count) return false;
        vf = _vfs[index];
        return vf.Bdf == routingId;
    }

    /// <summary>
    /// Does a memory request hit a VF of this PF? Checks each VF BAR's whole range (NumVFs × per-VF size)
    /// at once, so the fabric need not ask every VF. Needs VF Enable and VF MSE. Allocation-free.
    /// </summary>
    public bool TryDecodeVfMemory(ulong address, out VirtualFunction? vf, out int bar, out ulong offset)
    {
        vf = null;
        bar = -1;
        offset = 0;
        if (_vfs.Count == 0 || !VfMemorySpaceEnable) return false;
        for (int i = 0; i < 6; i++)
        {
            ulong size = _vfBarSizes[i];
            if (size == 0) continue;
            ulong baseAddr = VfBarBase(i);
            if (baseAddr == 0 || address < baseAddr) continue;
            ulong index = (address - baseAddr) / size;
            if (index >= (ulong)_vfs.Count) continue;
            vf = _vfs[(int)index];
            bar = i;
            offset = (address - baseAddr) % size;
            return true;
        }
        return false;
    }

    // ---- Device-model API ----

    /// <summary>
    /// Makes this PF (not the lowest-numbered one) follow <paramref name="lowestPf"/>'s ARI Capable
    /// Hierarchy: this PF's bit reads 0, and its offset/stride are recomputed when that bit changes.
    /// </summary>
    public void FollowAriCapableHierarchyOf(SriovCapability lowestPf)
    {
        if (IsLowestPf) throw new InvalidOperationException("the lowest-numbered PF owns ARI Capable Hierarchy");
        if (!lowestPf.IsLowestPf) throw new ArgumentException("ARI Capable Hierarchy lives in the lowest-numbered PF (PfIndex 0)");
        if (_lowestPf != null) throw new InvalidOperationException("this PF already follows a lowest-numbered PF");
        _lowestPf = lowestPf;
        lowestPf._followers.Add(this);
        if (Offset != 0) RecomputeRouting();
    }

    /// <summary>
    /// Re-derives every VF's routing ID from the PF's current one (call after the PF's bus number changed
    /// while VFs exist).
    /// </summary>
    public void UpdateRoutingIds()
    {
        for (int i = 0; i < _vfs.Count; i++) _vfs[i].Bdf = VfRoutingId(i + 1, Function.Bdf);
    }

    /// <summary>
    /// Device-side: a VF migration state changed. Sets VF Migration Status and, with VF Migration
    /// Interrupt Enable, signals the VF Migration Interrupt Message Number (deprecated MR-IOV feature).
    /// </summary>
    public void SignalVfMigration()
    {
        if (!Options.VfMigrationCapable) throw new InvalidOperationException($"{Function.Name}: not VF Migration Capable");
        if (!VfMigrationEnable) return;
        Config.SetBits(Offset + StatusReg, 2, VfMigrationStatusBit, true);
        Log.VfMigrationStatus(Function.Logger, Function.Name);
        if (VfMigrationInterruptEnable) CapabilityInterrupts.Request(Function, Options.VfMigrationInterruptMessageNumber);
    }

    // ---- Layout ----

    static void Validate(SriovOptions o)
    {
        if (o.InitialVfs is { } init && init > o.TotalVfs) throw new ArgumentException($"InitialVFs {init} exceeds TotalVFs {o.TotalVfs}");
        if ((o.SupportedPageSizes & SriovOptions.RequiredPageSizes) != SriovOptions.RequiredPageSizes)
            throw new ArgumentException($"Supported Page Sizes 0x{o.SupportedPageSizes:x} lacks the required 4K/8K/64K/256K/1M/4M (0x553, §9.3.3.12)");
        if (o.PfCount is < 1 or > 256) throw new ArgumentException("PfCount must be 1..256");
        if (o.PfIndex < 0 || o.PfIndex >= o.PfCount) throw new ArgumentException($"PfIndex {o.PfIndex} is not in 0..{o.PfCount - 1}");
        if (o.VfMigrationInterruptMessageNumber > 0x7FF) throw new ArgumentException("VF Migration Interrupt Message Number is 11 bits");
        if (!o.VfMigrationCapable && (o.VfMigrationInterruptMessageNumber != 0 || o.VfMigrationStateArrayOffset != 0))
            throw new ArgumentException("VF migration fields need VfMigrationCapable");
        if ((o.FirstVfOffset == null) != (o.VfStride == null)) throw new ArgumentException("give both FirstVfOffset and VfStride, or neither");
        if (o.VfEnableSettleTimeNs > 1_000_000_000) throw new ArgumentException("a VF may answer Request Retry Status for at most 1 s after VF Enable (§9.3.3.3.1)");
        var used = new bool[7];
        foreach (var b in o.VfBars)
        {
            if (b.Validate() is { } err) throw new ArgumentException($"VF BAR{b.Index}: {err}");
            if (!b.IsMemory) throw new ArgumentException($"VF BAR{b.Index}: VF BARs are memory BARs only (§9.3.3.14)");
            if (used[b.Index] || (b.Is64Bit && used[b.Index + 1])) throw new ArgumentException($"VF BAR{b.Index}: register already used");
            used[b.Index] = true;
            if (b.Is64Bit) used[b.Index + 1] = true;
        }
        if (o.VfMsix is { } m)
        {
            foreach (var (bir, off, len, what) in new[] { (m.TableBar, m.TableOffset, 16UL * (ulong)m.TableSize, "table"), (m.PbaBar, m.PbaOffset, 8UL * (ulong)((m.TableSize + 63) / 64), "PBA") })
            {
                var b = o.VfBars.FirstOrDefault(x => x.Index == bir);
                if (b == null) throw new ArgumentException($"VF MSI-X {what} BIR {bir} names no VF BAR");
                if (off + len > b.Size) throw new ArgumentException($"VF MSI-X {what} 0x{off:x}+0x{len:x} does not fit in VF BAR{bir} (0x{b.Size:x} bytes)");
            }
        }
    }

    protected override void Layout(ConfigSpace config, int offset)
    {
        var o = Options;
        bool lowest = IsLowestPf;
        Def(CapsReg, 4, (o.VfMigrationCapable ? VfMigrationCapableBit : 0) | (lowest && o.AriCapableHierarchyPreserved ? AriPreservedBit : 0)
            | (o.Vf10BitTagRequesterSupported ? Vf10BitTagSupportedBit : 0) | (uint)o.VfMigrationInterruptMessageNumber << 21);
        // ARI Capable Hierarchy is not affected by FLR (§9.3.3.3.5): sticky here, cleared by hand on a conventional reset.
        Def(ControlReg, 2, 0, ControlWritableBits(), sticky: lowest ? AriCapableHierarchyBit : 0, kind: RegisterKind.ReadWrite);
        Def(StatusReg, 2, 0, w1c: o.VfMigrationCapable ? VfMigrationStatusBit : 0, kind: RegisterKind.Write1ToClear);
        Def(InitialVfsReg, 2, o.InitialVfs ?? o.TotalVfs, kind: RegisterKind.HwInit);
        Def(TotalVfsReg, 2, o.TotalVfs, kind: RegisterKind.HwInit);
        // NumVFs' initial value is undefined (§9.3.3.7); 0 is what software expects and what Linux writes back.
        Def(NumVfsReg, 2, 0, 0xFFFF, kind: RegisterKind.ReadWrite);
        Def(DependencyLinkReg, 1, o.FunctionDependencyLink ?? (uint)o.PfIndex);
        Def(DependencyLinkReg + 1, 1, 0, kind: RegisterKind.RsvdP);
        Def(FirstVfOffsetReg, 2, 0);
        Def(VfStrideReg, 2, 0);
        Def(0x18, 2, 0, kind: RegisterKind.RsvdP);
        Def(VfDeviceIdReg, 2, o.VfDeviceId ?? Function.Identity.DeviceId);
        Def(SupportedPageSizesReg, 4, o.SupportedPageSizes);
        Def(SystemPageSizeReg, 4, 1, o.SupportedPageSizes, kind: RegisterKind.ReadWrite); // default 4 KB
        for (int i = 0; i < 6; i++)
        {
            var b = _vfBars[i];
            if (b != null) Def(VfBar0Reg + 4 * i, 4, b.TypeBits, kind: RegisterKind.ReadWrite);
            else if (i == 0 || _vfBars[i - 1]?.Is64Bit != true) Def(VfBar0Reg + 4 * i, 4, 0);
            else Def(VfBar0Reg + 4 * i, 4, 0, kind: RegisterKind.ReadWrite); // upper half of a 64-bit pair
        }
        Def(MigrationStateArrayReg, 4, o.VfMigrationStateArrayOffset);
        UpdateVfBarMasks();
        RecomputeRouting();
    }

    public override void OnFunctionSealed()
    {
        if (Function is VirtualFunction) throw new InvalidOperationException($"{Function.Name}: VFs must not implement SR-IOV (§9.3.7)");
        if (Function.IsBridge) throw new InvalidOperationException($"{Function.Name}: SR-IOV needs a Type 0 (endpoint) function");
        if (Options.Vf10BitTagRequesterSupported && Function.FindCapability<PciExpressCapability>() is { } pcie
            && !pcie.Options.TenBitTagRequesterSupported)
            throw new InvalidOperationException($"{Function.Name}: VF 10-Bit Tag Requester Supported needs the PF's 10-Bit Tag Requester Supported (§9.3.3.2)");
    }

    // ---- Masks ----

    uint ControlWritableBits()
    {
        var o = Options;
        uint rw = VfEnableBit | VfMseBit;
        if (o.VfMigrationCapable) rw |= VfMigrationEnableBit | VfMigrationInterruptEnableBit;
        if (o.Vf10BitTagRequesterSupported) rw |= Vf10BitTagEnableBit;
        // Changing ARI Capable Hierarchy with VF Enable set in any PF is undefined (§9.3.3.3.5): locked then.
        if (IsLowestPf && !AnyPfEnabled()) rw |= AriCapableHierarchyBit;
        return rw;
    }

    bool AnyPfEnabled()
    {
        if (Offset != 0 && VfEnable) return true;
        foreach (var f in _followers) if (f.Offset != 0 && f.VfEnable) return true;
        return false;
    }

    /// <summary>NumVFs and System Page Size may only be written while VF Enable is clear (§9.3.3.7, §9.3.3.13).</summary>
    void UpdateMasks()
    {
        bool enabled = VfEnable;
        Config.SetWritableMask(Offset + NumVfsReg, 2, enabled ? 0u : 0xFFFFu);
        Config.SetWritableMask(Offset + SystemPageSizeReg, 4, enabled ? 0u : Options.SupportedPageSizes);
        Config.SetWritableMask(Offset + ControlReg, 2, ControlWritableBits());
    }

    /// <summary>
    /// Each VF BAR decodes max(declared size, System Page Size) bytes, aligned to that (§9.3.3.13): only
    /// address bits at or above the size are writable, so sizing reads back the per-VF size.
    /// </summary>
    void UpdateVfBarMasks()
    {
        ulong page = SystemPageSizeBytes;
        for (int i = 0; i < 6; i++)
        {
            var b = _vfBars[i];
            if (b == null) { _vfBarSizes[i] = 0; continue; }
            ulong size = Math.Max(b.Size, page);
            _vfBarSizes[i] = size;
            int lo = Offset + VfBar0Reg + 4 * i;
            uint lowMask = (uint)~(size - 1) & ~0xFu;
            Config.SetWritableMask(lo, 4, lowMask);
            // The BARs' contents are indeterminate after System Page Size changes (§9.3.3.14); keep the aligned part.
            Config.SetRaw(lo, 4, (Config.Read32(lo) & lowMask) | b.TypeBits);
            if (b.Is64Bit)
            {
                uint highMask = (uint)(~(size - 1) >> 32);
                Config.SetWritableMask(lo + 4, 4, highMask);
                Config.SetRaw(lo + 4, 4, Config.Read32(lo + 4) & highMask);
            }
        }
    }

    void RecomputeRouting()
    {
        var ctx = new VfRoutingContext(Function.Bdf, Options.PfIndex, Options.PfCount, NumVfs, TotalVfs, AriCapableHierarchy);
        var r = _rule(ctx);
        if ((ctx.NumVfs > 0 && r.FirstVfOffset == 0) || (ctx.NumVfs > 1 && r.VfStride == 0))
            Log.RoutingRuleInvalid(Function.Logger, Function.Name, ctx.NumVfs, r.FirstVfOffset, r.VfStride);
        SetReg(FirstVfOffsetReg, 2, r.FirstVfOffset);
        SetReg(VfStrideReg, 2, r.VfStride);
    }

    // ---- Requester writes ----

    protected override void OnWrite(int rel, int width, uint oldValue, uint written)
    {
        if (RegisterBits.Touches(rel, width, ControlReg, 2)) ControlWritten(rel, width, oldValue, written);
        if (RegisterBits.Touches(rel, width, NumVfsReg, 2)) NumVfsWritten(rel, width, oldValue, written);
        if (RegisterBits.Touches(rel, width, SystemPageSizeReg, 4)) SystemPageSizeWritten(rel, width, oldValue, written);
        if (RegisterBits.Touches(rel, width, VfBar0Reg, 24)) VfMemoryChanged?.Invoke(this);
    }

    /// <summary>The value the requester tried to put in a register: written bytes over the old ones.</summary>
    static uint Requested(int rel, int width, uint oldValue, uint written, int reg, int regWidth, uint now)
    {
        uint before = RegisterBits.Before(rel, width, oldValue, reg, regWidth, now);
        uint mask = RegisterBits.WrittenMask(rel, width, reg, regWidth);
        return (before & ~mask) | (RegisterBits.Written(rel, width, written, reg, regWidth) & mask);
    }

    void ControlWritten(int rel, int width, uint oldValue, uint written)
    {
        uint now = Reg(ControlReg, 2);
        uint before = RegisterBits.Before(rel, width, oldValue, ControlReg, 2, now);
        uint changed = now ^ before;
        if ((changed & AriCapableHierarchyBit) != 0)
        {
            RecomputeRouting();
            foreach (var f in _followers) if (f.Offset != 0) f.RecomputeRouting();
        }
        else if (IsLowestPf && ((Requested(rel, width, oldValue, written, ControlReg, 2, now) ^ now) & AriCapableHierarchyBit) != 0)
            Log.AriChangeWhileEnabled(Function.Logger, Function.Name);

        if ((changed & VfEnableBit) != 0)
        {
            UpdateMasks();
            _lowestPf?.UpdateMasks();
            if ((now & VfEnableBit) != 0) CreateVfs();
            else RemoveVfs("VF Enable cleared");
        }
        if ((changed & VfMseBit) != 0) VfMemoryChanged?.Invoke(this);
    }

    void NumVfsWritten(int rel, int width, uint oldValue, uint written)
    {
        uint now = Reg(NumVfsReg, 2);
        uint before = RegisterBits.Before(rel, width, oldValue, NumVfsReg, 2, now);
        uint requested = Requested(rel, width, oldValue, written, NumVfsReg, 2, now);
        if (VfEnable)
        {
            if (requested != now) Log.NumVfsWriteWhileEnabled(Function.Logger, Function.Name, (int)requested, (int)now);
            return;
        }
        if (now > TotalVfs)
        {
            SetReg(NumVfsReg, 2, before);
            Log.NumVfsExceedsTotal(Function.Logger, Function.Name, (int)now, TotalVfs, (int)before);
            return;
        }
        if (now != before) RecomputeRouting();
    }

    void SystemPageSizeWritten(int rel, int width, uint oldValue, uint written)
    {
        uint now = Reg(SystemPageSizeReg, 4);
        uint before = RegisterBits.Before(rel, width, oldValue, SystemPageSizeReg, 4, now);
        uint requested = Requested(rel, width, oldValue, written, SystemPageSizeReg, 4, now);
        if (VfEnable)
        {
            if (requested != now) Log.SystemPageSizeWriteWhileEnabled(Function.Logger, Function.Name, requested, now);
            return;
        }
        if (requested != now || BitOperations.PopCount(now) != 1)
        {
            // The mask dropped unsupported bits, or more than one (or no) size was asked for.
            SetReg(SystemPageSizeReg, 4, before);
            Log.SystemPageSizeRejected(Function.Logger, Function.Name, requested, Options.SupportedPageSizes, before);
            return;
        }
        if (now == before) return;
        UpdateVfBarMasks();
        Log.SystemPageSizeChanged(Function.Logger, Function.Name, SystemPageSizeBytes);
        VfMemoryChanged?.Invoke(this);
    }

    // ---- VF lifetime ----

    void CreateVfs()
    {
        int n = NumVfs;
        if (n == 0)
        {
            Log.VfEnableWithoutVfs(Function.Logger, Function.Name);
            return;
        }
        _vfEnableTime = Clock();
        var pf = Function.Bdf;
        var factory = VirtualFunctionFactory ?? DefaultFactory;
        var created = new VirtualFunction[n];
        for (int i = 0; i < n; i++)
        {
            var vf = factory(this, i);
            if (vf.Sriov != this || vf.VfIndex != i)
                throw new InvalidOperationException($"{Function.Name}: the VF factory returned a VF of another PF or index for VF index {i}");
            if (!vf.IsSealed)
            {
                // VFs the default factory builds are laid out alike: share the first VF's masks and reset values.
                if (i > 0 && VirtualFunctionFactory is null) vf.Config.AdoptLayout(created[0].Config);
                vf.Seal();
            }
            // A device model's factory may have sealed the VF itself: share the layout when it came out the same.
            if (i > 0 && !vf.Config.SharesLayout) vf.Config.TryShareLayout(created[0].Config);
            var rid = VfRoutingId(i + 1, pf);
            if (rid.Bus < pf.Bus) Log.VfRoutingIdWraps(Function.Logger, Function.Name, i + 1, rid.ToString());
            vf.Bdf = rid;
            vf.Upstream ??= Function.Upstream;
            created[i] = vf;
        }
        _vfs.AddRange(created);
        Log.VfsEnabled(Function.Logger, Function.Name, n, created[0].Bdf.ToString(), created[^1].Bdf.ToString(),
            FirstVfOffset, VfStride, VfConfigReadyTimeNs);
        VfsEnabled?.Invoke(this, _vfs);
    }

    static VirtualFunction DefaultFactory(SriovCapability sriov, int vfIndex) => new(sriov, vfIndex);

    void RemoveVfs(string reason)
    {
        if (_vfs.Count == 0) return;
        var removed = _vfs.ToArray();
        _vfs.Clear();
        Log.VfsRemoved(Function.Logger, Function.Name, removed.Length, reason);
        VfsDisabled?.Invoke(this, removed);
    }

    /// <summary>
    /// A reset of the PF clears VF Enable, so its VFs cease to exist (§7.5.3.4: FLR of a PF). ARI Capable
    /// Hierarchy survives FLR but not a conventional reset (§9.3.3.3.5).
    /// </summary>
    public override void OnReset(ResetKind kind)
    {
        bool ariBefore = AriCapableHierarchy;
        if (kind == ResetKind.Hot && IsLowestPf) Config.SetBits(Offset + ControlReg, 2, AriCapableHierarchyBit, false);
        RemoveVfs($"PF {kind} reset");
        UpdateMasks();
        _lowestPf?.UpdateMasks();
        UpdateVfBarMasks();
        RecomputeRouting();
        if (ariBefore != AriCapableHierarchy)
            foreach (var f in _followers) if (f.Offset != 0) f.RecomputeRouting();
    }
}
