using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using static PcieVirt.Devices.Nvme.NvmeRegisters;

namespace PcieVirt.Devices.Nvme;

/// <summary>
/// An NVMe controller (NVMe Base Specification 1.4) serving the BAR of one PCI function: controller
/// registers and doorbells, admin and I/O queues in host memory fetched and completed by DMA through the
/// function's upstream port with its requester ID, PRP data transfers, MSI-X (or MSI) per completion queue,
/// the admin command set including namespace attachment and virtualization management, and the NVM
/// command set against <see cref="INamespaceBackend"/>s of its <see cref="NvmeSubsystem"/>.
/// <para>Attach it to a function before the function is sealed (<see cref="Attach"/>): it defines the BAR
/// when the function has none (a PF; a VF's BARs come from its PF), adds an MSI-X capability when the
/// function has none, and claims the register range of the BAR. The function forwards its resets to
/// <see cref="OnFunctionReset"/> (see <see cref="NvmeEndpointFunction"/>).</para>
/// <para>Processing is deterministic and synchronous: in <see cref="NvmeProcessingMode.OnDoorbell"/> a
/// doorbell write processes the commands it made visible before it returns; in
/// <see cref="NvmeProcessingMode.Explicit"/> they wait for <see cref="ProcessPending"/>. Time is virtual
/// (<see cref="Clock"/>); backends report a service time per command, which observers receive. Nothing
/// on the doorbell → fetch → backend → completion → interrupt path allocates. Faults never escape: a
/// command gets an NVMe status, a controller-level failure sets CSTS.CFS; both are logged.</para>
/// </summary>
public sealed partial class NvmeController
{
    readonly NvmeControllerOptions _o;
    readonly ILogger _log;
    PciFunction? _function;
    MsixCapability? _msix;
    MsiCapability? _msi;
    string _name;

    // ---- registers (§3.1) ----
    readonly ulong _capReset;
    uint _cc, _csts, _aqa, _intMask;
    ulong _asq, _acq;
    bool _readyPending, _shutdownPending;
    ulong _readyAtNs, _shutdownAtNs;

    /// <summary>Creates a controller for <paramref name="subsystem"/> with <paramref name="options"/>.</summary>
    public NvmeController(NvmeControllerOptions options, NvmeSubsystem subsystem, ILogger? logger = null)
    {
        if (options.Validate() is { } error) throw new ArgumentException($"NVMe controller {options.ControllerId}: {error}", nameof(options));
        _o = options;
        CommandOverheadNs = options.CommandOverheadNs;
        Subsystem = subsystem;
        _log = logger ?? NullLogger.Instance;
        _name = $"nvme{options.ControllerId}";
        _capReset = ComputeCap(options);
        int qCount = options.MaxIoQueuePairs + 1;
        _sqs = new SubmissionQueue[qCount];
        _cqs = new CompletionQueue[qCount];
        _sqWork = new ulong[(qCount + 63) / 64];
        for (int i = 0; i < qCount; i++)
        {
            _sqs[i] = new SubmissionQueue((ushort)i);
            _cqs[i] = new CompletionQueue((ushort)i);
        }
        MaxTransferBytes = (1 << options.MaxDataTransferExponent) * (4096 << options.MemoryPageSizeMin);
        _aerCids = new ushort[options.AsyncEventRequestLimit];
        _vectorCoalescingDisabled = new bool[Math.Max(options.EffectiveMsixTableSize, 32)];
        if (options.Virtualization is { } v)
        {
            _secondaries = new NvmeSecondaryController[v.Secondaries.Count];
            for (int i = 0; i < _secondaries.Length; i++)
            {
                var d = v.Secondaries[i];
                _secondaries[i] = new NvmeSecondaryController(d.ControllerId, options.ControllerId, d.VirtualFunctionNumber);
            }
        }
        else _secondaries = [];
        subsystem.Register(this);
        foreach (var s in _secondaries) subsystem.DeclareSecondary(s);
        foreach (var ns in subsystem.Namespaces)
            if (ns.IsAttachedTo(ControllerId)) SetActive(ns, attached: true);
        ResetRegisters(full: true);
        ResetControllerState();
    }

    /// <summary>CNTLID.</summary>
    public ushort ControllerId => _o.ControllerId;
    public NvmeControllerOptions Options => _o;
    public NvmeSubsystem Subsystem { get; }
    /// <summary>The function whose BAR this controller serves (after <see cref="Attach"/>).</summary>
    public PciFunction Function => _function ?? throw new InvalidOperationException($"{_name} is not attached to a function");
    public bool IsSecondary => _o.IsSecondary;
    public bool IsPrimary => _o.Virtualization != null;

    /// <summary>Virtual time in nanoseconds (RDY delay, shutdown, coalescing timers, SMART power-on hours). Default: always 0.</summary>
    public Func<ulong> Clock { get; set; } = static () => 0;

    /// <summary>Receives a record of every completed command (virtual latency accounting); null = none.</summary>
    public INvmeCommandObserver? Observer { get; set; }

    /// <summary>Largest data transfer (MDTS in bytes, in units of CAP.MPSMIN).</summary>
    public int MaxTransferBytes { get; }

    // ---- host-visible state, for tools and tests ----

    /// <summary>CAP as it reads.</summary>
    public ulong Cap => _capReset;
    /// <summary>CC as it reads.</summary>
    public uint Cc => _cc;
    /// <summary>CSTS as it reads now (RDY and SHST advance with <see cref="Clock"/>).</summary>
    public uint Csts { get { UpdateTimedState(); return _csts; } }
    public bool IsReady => (Csts & 1) != 0;
    public bool IsFatal => (_csts & 2) != 0;
    /// <summary>Memory page size from CC.MPS.</summary>
    public int PageSize => 4096 << (int)CcFields.Mps.Get(_cc);

    /// <summary>
    /// Binds the controller to <paramref name="function"/> before the function is sealed: defines the
    /// register BAR (64-bit, non-prefetchable) when absent, adds an MSI-X capability when absent, and
    /// claims [0, MSI-X table) of the BAR (or the whole BAR) for registers and doorbells.
    /// </summary>
    public void Attach(PciFunction function)
    {
        if (_function != null) throw new InvalidOperationException($"{_name} is already attached to {_function.Name}");
        if (function.IsSealed) throw new InvalidOperationException($"{function.Name}: attach the NVMe controller before sealing the function");
        var bar = function.Bars[_o.Bar];
        if (bar == null)
        {
            if (function.IsVirtualFunction) throw new InvalidOperationException($"{function.Name}: a VF's BAR{_o.Bar} must come from its PF's VF BARs");
            ulong size = _o.BarSize != 0 ? _o.BarSize : MinimumBarSize(_o);
            function.DefineBar(new BarDefinition(_o.Bar, BarKind.Memory64, size));
            bar = function.Bars[_o.Bar]!;
        }
        if (!bar.IsMemory) throw new InvalidOperationException($"{function.Name}: BAR{_o.Bar} is not a memory BAR");
        _msix = function.FindCapability<MsixCapability>();
        if (_msix == null)
        {
            _msix = new MsixCapability(_o.DefaultMsix);
            function.AddCapability(_msix);
        }
        ulong length = _msix.TableBar == _o.Bar ? Math.Min(_msix.TableOffset, bar.Size) : bar.Size;
        if (_msix.PbaBar == _o.Bar) length = Math.Min(length, _msix.PbaOffset);
        if (length < _o.RegisterSpaceLength)
            throw new InvalidOperationException($"{function.Name}: BAR{_o.Bar} has 0x{length:x} bytes before the MSI-X structures; registers and doorbells need 0x{_o.RegisterSpaceLength:x}");
        function.MapRegion(_o.Bar, 0, length, new RegisterRegion(this));
        _function = function;
        _name = $"{function.Name} nvme{ControllerId}";
    }

    /// <summary>Smallest power-of-two BAR holding registers, doorbells, MSI-X table and PBA.</summary>
    public static ulong MinimumBarSize(NvmeControllerOptions o)
    {
        var m = o.DefaultMsix;
        ulong end = Math.Max(o.RegisterSpaceLength, Math.Max(m.TableOffset + 16UL * (ulong)m.TableSize, m.PbaOffset + 8UL * (ulong)((m.TableSize + 63) / 64)));
        ulong size = 0x4000;
        while (size < end) size <<= 1;
        return size;
    }

    /// <summary>
    /// The function was reset (FLR, hot or cold reset): every register returns to its reset value (a
    /// Controller Level Reset that also clears AQA/ASQ/ACQ, §7.3.2), queues and outstanding requests are gone.
    /// </summary>
    public void OnFunctionReset(ResetKind kind)
    {
        Log.ControllerReset(_log, _name, kind.ToString());
        ResetControllerState();
        ResetRegisters(full: true);
        if (IsPrimary) TakeSecondariesOffline();
    }

    /// <summary>Leaves the subsystem (the VF that hosted this controller was destroyed); attachments of a declared secondary ID stay.</summary>
    public void LeaveSubsystem()
    {
        ResetControllerState();
        Subsystem.Unregister(this);
    }

    static ulong ComputeCap(NvmeControllerOptions o)
    {
        ulong cap = 0;
        cap = CapFields.Mqes.With(cap, (ulong)(o.MaxQueueEntries - 1));
        cap = CapFields.Cqr.With(cap, 1); // I/O queues must be physically contiguous (PRP1 is the base)
        cap = CapFields.Ams.With(cap, 0); // round robin only
        cap = CapFields.To.With(cap, o.TimeoutUnits);
        cap = CapFields.Dstrd.With(cap, (ulong)o.DoorbellStride);
        cap = CapFields.Nssrs.With(cap, 0);
        cap = CapFields.Css.With(cap, 1); // bit 37: NVM command set
        cap = CapFields.MpsMin.With(cap, (ulong)o.MemoryPageSizeMin);
        cap = CapFields.MpsMax.With(cap, (ulong)o.MemoryPageSizeMax);
        return cap;
    }

    void ResetRegisters(bool full)
    {
        _csts = 0;
        _intMask = 0;
        _readyPending = _shutdownPending = false;
        if (!full) return;
        _cc = 0;
        _aqa = 0;
        _asq = _acq = 0;
    }

    /// <summary>Advances RDY and SHST when their virtual deadlines have passed.</summary>
    void UpdateTimedState()
    {
        if (!_readyPending && !_shutdownPending) return;
        ulong now = Clock();
        if (_readyPending && now >= _readyAtNs)
        {
            _readyPending = false;
            _csts = (uint)CstsFields.Rdy.With(_csts, 1);
        }
        if (_shutdownPending && now >= _shutdownAtNs)
        {
            _shutdownPending = false;
            _csts = (uint)CstsFields.Shst.With(_csts, 0b10);
        }
    }

    /// <summary>True while commands may be fetched: ready, not fatal, no shutdown under way or done.</summary>
    bool IsOperational
    {
        get
        {
            UpdateTimedState();
            return (_csts & 0b1111) == 1; // RDY=1, CFS=0, SHST=00b
        }
    }

    // ---------------------------------------------------------------- register access

    ulong RegisterValue(NvmeRegisterDefinition r) => r.Offset switch
    {
        NvmeRegisters.Cap => _capReset,
        Vs => _o.Version,
        Intms or Intmc => _intMask,
        NvmeRegisters.Cc => _cc,
        NvmeRegisters.Csts => Csts,
        Aqa => _aqa,
        Asq => _asq,
        Acq => _acq,
        _ => 0,
    };

    void ReadRegisters(ulong offset, Span<byte> data)
    {
        if (offset >= Doorbells)
        {
            data.Clear(); // doorbells are write-only; reads return 0
            return;
        }
        for (int i = 0; i < data.Length; i++)
        {
            int at = (int)offset + i;
            var r = Find(at);
            data[i] = r == null ? (byte)0 : (byte)(RegisterValue(r) >> (8 * (at - r.Offset)));
        }
    }

    void WriteRegisters(ulong offset, ReadOnlySpan<byte> data)
    {
        bool aligned = (data.Length == 4 && (offset & 3) == 0) || (data.Length == 8 && (offset & 7) == 0);
        if (!aligned)
        {
            Log.BadRegisterAccess(_log, _name, data.Length, offset);
            return;
        }
        try
        {
            if (offset >= Doorbells)
            {
                if (data.Length != 4) { Log.BadRegisterAccess(_log, _name, data.Length, offset); return; }
                WriteDoorbell((int)offset, BinaryPrimitives.ReadUInt32LittleEndian(data));
                return;
            }
            // A qword write is two dword writes, low half first (how 64-bit registers are built up, §3.1).
            WriteRegisterDword((int)offset, BinaryPrimitives.ReadUInt32LittleEndian(data));
            if (data.Length == 8) WriteRegisterDword((int)offset + 4, BinaryPrimitives.ReadUInt32LittleEndian(data[4..]));
        }
        catch (Exception ex)
        {
            // A model bug must not escape into the fabric; the controller reports it as fatal.
            Log.InternalFault(_log, ex, _name);
            SetFatal("internal fault in the device model");
        }
    }

    void WriteRegisterDword(int offset, uint value)
    {
        var r = Find(offset);
        if (r == null) return; // reserved: writes ignored
        int shift = 8 * (offset - r.Offset);
        switch (r.Access)
        {
            case NvmeRegisterAccess.ReadOnly:
                Log.ReadOnlyRegisterWrite(_log, _name, r.Name, offset);
                return;
            case NvmeRegisterAccess.WriteOneToSet:
            case NvmeRegisterAccess.WriteOneToClear:
                WriteInterruptMask(value, set: r.Access == NvmeRegisterAccess.WriteOneToSet);
                return;
        }
        ulong old = RegisterValue(r);
        ulong mask = r.WritableMask & (0xFFFF_FFFFUL << shift);
        ulong next = (old & ~mask) | (((ulong)value << shift) & mask);
        switch (r.Offset)
        {
            case NvmeRegisters.Cc: WriteCc((uint)next); break;
            case Aqa: _aqa = (uint)next; break;
            case Asq: _asq = next; break;
            case Acq: _acq = next; break;
        }
    }

    void WriteInterruptMask(uint value, bool set)
    {
        // INTMS/INTMC mask pin and MSI interrupts; with MSI-X the host must not use them (§3.1.3-4).
        if (_msix is { IsEnabled: true })
        {
            Log.InterruptMaskWithMsix(_log, _name);
            return;
        }
        if (set) _intMask |= value;
        else
        {
            uint released = _intMask & value & _maskedPending;
            _intMask &= ~value;
            _maskedPending &= ~released;
            for (int v = 0; released != 0; v++, released >>= 1)
                if ((released & 1) != 0) RaiseVector(v);
        }
    }

    void WriteCc(uint next)
    {
        uint old = _cc;
        bool wasEnabled = CcFields.En.Get(old) != 0, enable = CcFields.En.Get(next) != 0;
        if (wasEnabled && enable)
        {
            // CSS, MPS and AMS may change only while the controller is disabled (§3.1.5).
            foreach (var (field, name) in StaticCcFields)
                if (field.Get(old) != field.Get(next))
                {
                    Log.CcFieldChangeWhileEnabled(_log, _name, name);
                    next = (uint)field.With(next, field.Get(old));
                }
        }
        _cc = next;
        if (!wasEnabled && enable) Enable();
        else if (wasEnabled && !enable) ControllerLevelReset("CC.EN cleared");
        uint oldShn = (uint)CcFields.Shn.Get(old), shn = (uint)CcFields.Shn.Get(next);
        if (shn != 0 && oldShn == 0) BeginShutdown(shn);
    }

    static readonly (BitField Field, string Name)[] StaticCcFields =
        [(CcFields.Css, "CSS"), (CcFields.Mps, "MPS"), (CcFields.Ams, "AMS")];

    void Enable()
    {
        // Capabilities added after Attach (MSI, for instance) are in place once the function is in use.
        _msi ??= _function?.FindCapability<MsiCapability>();
        _csts = (uint)CstsFields.Shst.With(_csts, 0); // a new session starts in normal operation
        string? why = CheckEnable();
        if (why != null)
        {
            SetFatal(why);
            return;
        }
        int sqEntries = (int)AqaFields.Asqs.Get(_aqa) + 1, cqEntries = (int)AqaFields.Acqs.Get(_aqa) + 1;
        _sqs[0].Open(_asq, sqEntries, cqId: 0);
        _cqs[0].Open(_acq, cqEntries, vector: 0, interrupts: true);
        _readyAtNs = Clock() + _o.ReadyDelayNs;
        _readyPending = true;
        ApplyResourceLimits();
        Log.Enabled(_log, _name, _asq, sqEntries, _acq, cqEntries, PageSize, _readyAtNs);
        UpdateTimedState();
    }

    /// <summary>Why CC.EN 0→1 with the current settings cannot bring the controller up, or null.</summary>
    string? CheckEnable()
    {
        if (IsSecondary && Subsystem.FindSecondary(ControllerId) is not { IsOnline: true })
            return "the secondary controller is offline (its primary has not brought it online)";
        uint css = (uint)CcFields.Css.Get(_cc);
        if (css != 0) return $"CC.CSS {css} selects a command set this controller does not support (NVM only)";
        int mps = (int)CcFields.Mps.Get(_cc);
        if (mps < _o.MemoryPageSizeMin || mps > _o.MemoryPageSizeMax)
            return $"CC.MPS {mps} is outside CAP.MPSMIN..MPSMAX ({_o.MemoryPageSizeMin}..{_o.MemoryPageSizeMax})";
        if (CcFields.Ams.Get(_cc) != 0) return "CC.AMS selects an arbitration mechanism other than round robin, which CAP.AMS does not offer";
        uint sqes = (uint)CcFields.Iosqes.Get(_cc), cqes = (uint)CcFields.Iocqes.Get(_cc);
        // 0 means "not set yet" (the host may set the I/O entry sizes before creating I/O queues).
        if (sqes != 0 && sqes != 6) return $"CC.IOSQES {sqes} is not the supported 2^6-byte entry";
        if (cqes != 0 && cqes != 4) return $"CC.IOCQES {cqes} is not the supported 2^4-byte entry";
        if (AqaFields.Asqs.Get(_aqa) == 0 || AqaFields.Acqs.Get(_aqa) == 0)
            return "AQA gives an admin queue of one entry (the minimum is two)";
        ulong page = (ulong)PageSize;
        if ((_asq & (page - 1)) != 0 || (_acq & (page - 1)) != 0)
            return $"ASQ 0x{_asq:x} or ACQ 0x{_acq:x} is not aligned to the {page}-byte memory page";
        return null;
    }

    void SetFatal(string reason)
    {
        if ((_csts & 2) == 0) Log.Fatal(_log, _name, reason);
        _csts = (uint)CstsFields.Cfs.With(_csts, 1);
        _readyPending = false;
    }

    void BeginShutdown(uint shn)
    {
        // Normal (01b) or abrupt (10b) shutdown: stop taking commands, make data durable, report done (§7.6.2).
        foreach (var ns in _active)
            if (ns != null) ns.Backend.Flush();
        _shutdownAtNs = Clock() + _o.ShutdownDelayNs;
        _shutdownPending = true;
        _csts = (uint)CstsFields.Shst.With(_csts, 0b01);
        Log.Shutdown(_log, _name, shn == 1 ? "normal" : "abrupt", _shutdownAtNs);
        UpdateTimedState();
    }

    /// <summary>
    /// Controller Level Reset by CC.EN 1→0 (§7.3.2): queues deleted, outstanding requests dropped, features
    /// back to defaults, CSTS cleared except SHST; AQA, ASQ, ACQ and CC keep what the host wrote.
    /// </summary>
    void ControllerLevelReset(string cause)
    {
        Log.ControllerReset(_log, _name, cause);
        uint shst = (uint)CstsFields.Shst.Get(_csts);
        ResetControllerState();
        ResetRegisters(full: false);
        _csts = (uint)CstsFields.Shst.With(_csts, shst);
        if (IsPrimary) TakeSecondariesOffline();
    }

    void ResetControllerState()
    {
        foreach (var q in _sqs) q.Close();
        foreach (var q in _cqs) q.Close();
        Array.Clear(_sqWork);
        if (_inflightCount > 0) Log.InFlightDropped(_log, _name, _inflightCount);
        _inflightCount = 0; // commands in execution are dropped with their queues (no completion, §7.3.2)
        AbandonAsync();
        _aerCount = 0;
        _eventCount = 0;
        _maskedEventTypes = 0;
        _changedNsCount = 0;
        _maskedPending = 0;
        ResetFeatures();
        if (IsPrimary)
        {
            // Flexible resources allocated to the primary take effect at a Controller Level Reset (§8.5).
            _primaryQueuesFlexible = _nextPrimaryQueuesFlexible;
            _primaryInterruptsFlexible = _nextPrimaryInterruptsFlexible;
        }
    }

    /// <summary>The host's register view of BAR space [0, MSI-X table).</summary>
    sealed class RegisterRegion(NvmeController c) : IBarRegion
    {
        public void Read(ulong offset, Span<byte> data) => c.ReadRegisters(offset, data);
        public void Write(ulong offset, ReadOnlySpan<byte> data) => c.WriteRegisters(offset, data);
    }

    public override string ToString() => _name;
}

/// <summary>What <see cref="INvmeCommandObserver"/> receives for each completed command.</summary>
/// <param name="ControllerId">CNTLID of the controller.</param>
/// <param name="SqId">Submission queue the command came from (0 = admin).</param>
/// <param name="CommandId">CID.</param>
/// <param name="Opcode">Opcode.</param>
/// <param name="Nsid">NSID field.</param>
/// <param name="Status">Completion status.</param>
/// <param name="FetchedAtNs">Virtual time the command was fetched.</param>
/// <param name="ServiceTimeNs">Controller overhead plus backend service time.</param>
/// <param name="Bytes">Data bytes transferred.</param>
public readonly record struct NvmeCommandRecord(ushort ControllerId, ushort SqId, ushort CommandId, byte Opcode, uint Nsid,
    NvmeStatus Status, ulong FetchedAtNs, ulong ServiceTimeNs, int Bytes)
{
    /// <summary>Virtual time the completion was posted (timed mode; in immediate mode the fetch time).</summary>
    public ulong CompletedAtNs { get; init; }
    /// <summary>Link and DMA time before the media could start (SQE, PRP list and write-data reads, IOMMU stalls); timed mode with a transport model.</summary>
    public ulong TransportBeforeNs { get; init; }
    /// <summary>Link time after the media finished (read data and the completion entry to host memory).</summary>
    public ulong TransportAfterNs { get; init; }
}

/// <summary>
/// Turns the DMA a command caused into link time (timed mode): the controller counts its read requests
/// (each a dependent round trip), the bytes it read and wrote, and the stall the path reported (IOMMU misses).
/// </summary>
public interface INvmeTransportTiming
{
    /// <summary>Time from the doorbell until the media can start: the dependent reads of the SQE, PRP lists and write data.</summary>
    ulong BeforeMediaNs(int readRequests, long readBytes, ulong stallNs);
    /// <summary>Time from media completion until the completion entry is in host memory: read data plus the CQE.</summary>
    ulong AfterMediaNs(long writeBytes);
}

/// <summary>Receives a record of each completed command (for latency accounting, workload tools and a future scheduler).</summary>
public interface INvmeCommandObserver
{
    void OnCommandCompleted(in NvmeCommandRecord record);
}
