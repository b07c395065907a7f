using System.Buffers.Binary;
using System.Text;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using static PcieVirt.Devices.Nvme.NvmeRegisters;

namespace PcieVirt.Devices.Driver;

/// <summary>How the driver waits for a completion.</summary>
public enum NvmeCompletionWait
{
    /// <summary>Poll the completion queue's phase tag.</summary>
    Polling,
    /// <summary>Wait until the queue's MSI-X vector has been received by the host interrupt controller, then reap.</summary>
    Interrupt,
}

/// <summary>Options of an <see cref="NvmeDriver"/>.</summary>
public sealed record NvmeDriverOptions
{
    public int AdminQueueEntries { get; init; } = 32;
    public int IoQueueEntries { get; init; } = 64;
    /// <summary>I/O queue pairs to create (each with its own MSI-X vector).</summary>
    public int IoQueuePairs { get; init; } = 1;
    public NvmeCompletionWait Wait { get; init; } = NvmeCompletionWait.Polling;
    /// <summary>CC.MPS to program (memory page 4 KiB &lt;&lt; MPS).</summary>
    public int MemoryPageSizeShift { get; init; }
    /// <summary>Use MSI-X (program the table, enable it); otherwise no interrupts (polling only).</summary>
    public bool UseMsix { get; init; } = true;
    /// <summary>Host vector (MSI data) of MSI-X entry 0; entry i uses FirstHostVector + i.</summary>
    public byte FirstHostVector { get; init; } = 0x40;
    /// <summary>MSI address the table entries get (x86 local APIC range, destination 0).</summary>
    public ulong MsiAddress { get; init; } = InterruptController.MsiBase;
    /// <summary>Called while waiting (a completion, CSTS.RDY): lets the device run, e.g. a controller in explicit processing mode.</summary>
    public Action? Pump { get; init; }
    /// <summary>Virtual clock and a way to advance it, for waiting on CSTS.RDY up to CAP.TO; null = poll <see cref="MaxPolls"/> times.</summary>
    public Func<ulong>? Clock { get; init; }
    public Action<ulong>? AdvanceClock { get; init; }
    /// <summary>Virtual time the driver lets pass between two CSTS polls.</summary>
    public ulong PollIntervalNs { get; init; } = 1_000_000;
    /// <summary>How many times to poll before giving up when there is no clock.</summary>
    public int MaxPolls { get; init; } = 10_000;
}

/// <summary>A submission as host software builds it (the driver assigns the Command Identifier).</summary>
public struct NvmeSubmission
{
    public byte Opcode;
    public uint Nsid;
    public ulong Prp1, Prp2;
    public uint Cdw10, Cdw11, Cdw12, Cdw13, Cdw14, Cdw15;
    /// <summary>CDW0 bits 15:8 as written (FUSE, PSDT); 0 for ordinary PRP commands.</summary>
    public byte Flags;
}

/// <summary>Failure of host software to bring up or drive a controller (timeouts, fatal status).</summary>
public sealed class NvmeDriverException(string message) : Exception(message);

/// <summary>Identify Controller fields the driver uses.</summary>
public sealed record NvmeControllerInfo(ushort VendorId, string SerialNumber, string ModelNumber, string FirmwareRevision,
    byte Mdts, ushort ControllerId, uint Version, ushort Oacs, uint NamespaceCount, ushort Oncs, byte Vwc, byte Cmic, byte Sqes, byte Cqes);

/// <summary>Identify Namespace fields the driver uses.</summary>
public sealed record NvmeNamespaceInfo(uint Nsid, ulong Size, ulong Capacity, int BlockSize, byte Nmic);

/// <summary>A submission/completion queue pair in host memory, as the driver tracks it.</summary>
public sealed class NvmeQueuePair
{
    internal NvmeQueuePair(ushort qid, ulong sq, ulong cq, int sqEntries, int cqEntries, int msixEntry, byte hostVector)
    {
        Qid = qid;
        SqBase = sq;
        CqBase = cq;
        SqEntries = sqEntries;
        CqEntries = cqEntries;
        MsixEntry = msixEntry;
        HostVector = hostVector;
    }

    public ushort Qid { get; }
    public ulong SqBase { get; }
    public ulong CqBase { get; }
    public int SqEntries { get; }
    public int CqEntries { get; }
    /// <summary>MSI-X table entry (interrupt vector number given to the controller).</summary>
    public int MsixEntry { get; }
    /// <summary>MSI data (host vector) that entry sends.</summary>
    public byte HostVector { get; }
    public int SqTail { get; internal set; }
    public int CqHead { get; internal set; }
    public bool Phase { get; internal set; } = true;
    internal ushort NextCid;
    internal long InterruptsSeen;
    /// <summary>Completions reaped while waiting for another command, handed out by the next TryReap / WaitFor.</summary>
    internal readonly List<NvmeCompletion> Backlog = [];
}

/// <summary>
/// A reference NVMe host driver, using only what host software has: configuration requests and memory
/// reads/writes through the <see cref="RootComplex"/> (BAR0 registers, doorbells, MSI-X table) and host RAM
/// for queues, PRP lists and data. <see cref="Initialize"/> resets and enables the controller (CC.EN /
/// CSTS.RDY within CAP.TO), identifies it and its namespaces and creates I/O queues with one MSI-X vector
/// each. Commands complete by polling the phase tag or by waiting for the queue's interrupt.
/// Submitting and reaping allocate nothing.
/// </summary>
public sealed class NvmeDriver
{
    readonly INvmeHostBus _bus;
    readonly string _address;
    readonly HostMemoryAllocator _mem;
    readonly NvmeDriverOptions _o;
    readonly byte[] _sqe = new byte[NvmeCommand.Size];
    readonly byte[] _cqe = new byte[NvmeCompletion.Size];
    readonly byte[] _dword = new byte[4];
    readonly byte[] _qword = new byte[8];
    readonly List<NvmeQueuePair> _ioQueues = [];
    readonly Dictionary<uint, NvmeNamespaceInfo> _namespaces = [];
    ulong _bar;
    int _dstrd;

    /// <summary>A driver for the function at <paramref name="function"/> below <paramref name="rootComplex"/>.</summary>
    public NvmeDriver(RootComplex rootComplex, Bdf function, HostMemoryAllocator memory, NvmeDriverOptions? options = null)
        : this(new FabricHostBus(rootComplex, new PciAddress(rootComplex.Segment, function)), memory, options) { }

    /// <summary>A driver reaching its function through <paramref name="bus"/> (the fabric, or another host view such as a guest's).</summary>
    public NvmeDriver(INvmeHostBus bus, HostMemoryAllocator memory, NvmeDriverOptions? options = null)
    {
        _bus = bus;
        _address = bus.Name;
        _mem = memory;
        _o = options ?? new NvmeDriverOptions();
    }

    /// <summary>Name of the function (for messages).</summary>
    public string Address => _address;
    /// <summary>The host memory the driver allocates queues, lists and buffers from.</summary>
    public HostMemoryAllocator Memory => _mem;
    /// <summary>BAR0 address the registers were found at.</summary>
    public ulong RegisterBase => _bar;
    public ulong Cap { get; private set; }
    public NvmeControllerInfo? Controller { get; private set; }
    public IReadOnlyDictionary<uint, NvmeNamespaceInfo> Namespaces => _namespaces;
    public NvmeQueuePair? AdminQueue { get; private set; }
    public IReadOnlyList<NvmeQueuePair> IoQueues => _ioQueues;
    /// <summary>Memory page size the controller was enabled with.</summary>
    public int PageSize => 4096 << _o.MemoryPageSizeShift;
    /// <summary>Offset of the MSI-X capability in config space (0 = none).</summary>
    public int MsixCapabilityOffset { get; private set; }
    /// <summary>Number of MSI-X table entries.</summary>
    public int MsixTableSize { get; private set; }
    ulong _msixTable;

    // ---------------------------------------------------------------- bring-up

    /// <summary>Full bring-up: registers, admin queue, enable, MSI-X, identify, Number of Queues, I/O queues.</summary>
    public void Initialize()
    {
        MapFunction();
        DisableController();
        ConfigureAdminQueue();
        if (_o.UseMsix) ConfigureMsix();
        EnableController();
        IdentifyController();
        if (_o.IoQueuePairs > 0) SetNumberOfQueues(_o.IoQueuePairs);
        IdentifyNamespaces();
        for (int i = 1; i <= _o.IoQueuePairs; i++) CreateIoQueuePair((ushort)i, _o.IoQueueEntries);
    }

    /// <summary>Reads BAR0 (and BAR1 for a 64-bit BAR), sets Memory Space and Bus Master Enable, reads CAP.</summary>
    public void MapFunction()
    {
        _bar = BarAddress(0);
        if (_bar == 0) throw new NvmeDriverException($"{_address}: BAR0 is not assigned");
        uint cmd = CfgRead(PciRegs.Command, 2);
        CfgWrite(PciRegs.Command, 2, cmd | (uint)(PciCommand.MemorySpace | PciCommand.BusMaster));
        Cap = Read64(NvmeRegisters.Cap);
        _dstrd = (int)CapFields.Dstrd.Get(Cap);
        int mpsMin = (int)CapFields.MpsMin.Get(Cap), mpsMax = (int)CapFields.MpsMax.Get(Cap);
        if (_o.MemoryPageSizeShift < mpsMin || _o.MemoryPageSizeShift > mpsMax)
            throw new NvmeDriverException($"{_address}: memory page shift {_o.MemoryPageSizeShift} is outside CAP.MPSMIN..MPSMAX {mpsMin}..{mpsMax}");
    }

    ulong BarAddress(int index) => _bus.BarAddress(index);

    /// <summary>Clears CC.EN if set and waits for CSTS.RDY to read 0.</summary>
    public void DisableController()
    {
        uint cc = Read32(NvmeRegisters.Cc);
        if ((cc & 1) != 0) Write32(NvmeRegisters.Cc, cc & ~1u);
        WaitReady(false);
    }

    /// <summary>Allocates the admin queues and programs AQA, ASQ and ACQ.</summary>
    public void ConfigureAdminQueue()
    {
        int n = _o.AdminQueueEntries;
        ulong sq = _mem.Allocate((ulong)(n * NvmeCommand.Size), (ulong)PageSize);
        ulong cq = _mem.Allocate((ulong)(n * NvmeCompletion.Size), (ulong)PageSize);
        AdminQueue = new NvmeQueuePair(0, sq, cq, n, n, 0, _o.FirstHostVector);
        Write32(Aqa, (uint)((n - 1) | (n - 1) << 16));
        Write64(Asq, sq);
        Write64(Acq, cq);
    }

    /// <summary>Programs every MSI-X table entry (address, data = FirstHostVector + i, unmasked) and enables MSI-X.</summary>
    public void ConfigureMsix()
    {
        MsixCapabilityOffset = FindCapability(0x11);
        if (MsixCapabilityOffset == 0) throw new NvmeDriverException($"{_address}: no MSI-X capability");
        uint control = CfgRead(MsixCapabilityOffset + 2, 2);
        MsixTableSize = (int)(control & 0x7FF) + 1;
        uint table = CfgRead(MsixCapabilityOffset + 4, 4);
        _msixTable = BarAddress((int)(table & 7)) + (table & ~7u);
        for (int i = 0; i < MsixTableSize; i++)
        {
            ulong e = _msixTable + 16UL * (ulong)i;
            MmioWrite32(e, (uint)_o.MsiAddress);
            MmioWrite32(e + 4, (uint)(_o.MsiAddress >> 32));
            MmioWrite32(e + 8, (uint)(_o.FirstHostVector + i) & 0xFF);
            MmioWrite32(e + 12, 0); // unmask
        }
        // MSI-X Enable set, Function Mask clear.
        CfgWrite(MsixCapabilityOffset + 2, 2, (control | 0x8000) & ~0x4000u);
    }

    /// <summary>Programs CC (NVM command set, round robin, 64/16-byte entries, page size) with EN=1 and waits for RDY.</summary>
    public void EnableController()
    {
        uint cc = 1u | (uint)_o.MemoryPageSizeShift << 7 | 6u << 16 | 4u << 20;
        Write32(NvmeRegisters.Cc, cc);
        WaitReady(true);
    }

    /// <summary>Waits until CSTS.RDY equals <paramref name="ready"/> within CAP.TO; throws on CSTS.CFS or timeout.</summary>
    public void WaitReady(bool ready)
    {
        ulong timeoutNs = CapFields.To.Get(Cap == 0 ? Read64(NvmeRegisters.Cap) : Cap) * 500_000_000UL;
        ulong start = _o.Clock?.Invoke() ?? 0;
        for (int polls = 0; ; polls++)
        {
            uint csts = Read32(Csts);
            if (csts == 0xFFFF_FFFF) throw new NvmeDriverException($"{_address}: CSTS reads all ones (device gone or BAR not decoded)");
            if (ready && (csts & 2) != 0) throw new NvmeDriverException($"{_address}: controller fatal status (CSTS.CFS) while enabling");
            if (((csts & 1) != 0) == ready) return;
            if (_o.Clock != null && _o.AdvanceClock != null)
            {
                if (_o.Clock() - start >= timeoutNs) break;
                _o.AdvanceClock(_o.PollIntervalNs);
            }
            else if (polls >= _o.MaxPolls) break;
            _o.Pump?.Invoke();
        }
        throw new NvmeDriverException($"{_address}: CSTS.RDY did not become {(ready ? 1 : 0)} within CAP.TO");
    }

    /// <summary>Identify Controller (CNS 01h).</summary>
    public NvmeControllerInfo IdentifyController()
    {
        var d = IdentifyRaw(NvmeIdentifyCns.Controller, 0);
        Controller = new NvmeControllerInfo(
            BinaryPrimitives.ReadUInt16LittleEndian(d), Ascii(d.AsSpan(4, 20)), Ascii(d.AsSpan(24, 40)), Ascii(d.AsSpan(64, 8)),
            d[77], BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan(78)), BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(80)),
            BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan(256)), BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(516)),
            BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan(520)), d[525], d[76], d[512], d[513]);
        return Controller;
    }

    /// <summary>Identify with <paramref name="cns"/>; returns the 4 KiB structure (throws on an error status).</summary>
    public byte[] IdentifyRaw(byte cns, uint nsid, ushort cntid = 0)
    {
        var status = Identify(cns, nsid, cntid, out var data);
        if (!status.IsSuccess) throw new NvmeDriverException($"{_address}: Identify CNS {cns:x2}h failed: {status}");
        return data;
    }

    /// <summary>Identify with <paramref name="cns"/>; returns the status and the data read back.</summary>
    public NvmeStatus Identify(byte cns, uint nsid, ushort cntid, out byte[] data)
    {
        ulong buffer = _mem.Allocate(4096, 4096);
        try
        {
            var c = ExecuteAdmin(new NvmeSubmission
            {
                Opcode = NvmeAdminOpcode.Identify, Nsid = nsid, Prp1 = buffer, Cdw10 = cns | (uint)cntid << 16,
            });
            data = new byte[4096];
            _mem.Memory.Read(buffer, data);
            return c.Status;
        }
        finally
        {
            _mem.Free(buffer);
        }
    }

    /// <summary>Set Features Number of Queues; returns (SQs, CQs) allocated.</summary>
    public (int Sqs, int Cqs) SetNumberOfQueues(int pairs)
    {
        uint n = (uint)(pairs - 1);
        var c = ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.SetFeatures, Cdw10 = NvmeFeatureId.NumberOfQueues, Cdw11 = n | n << 16 });
        if (!c.Status.IsSuccess) throw new NvmeDriverException($"{_address}: Set Features Number of Queues failed: {c.Status}");
        return ((int)(c.Dword0 & 0xFFFF) + 1, (int)(c.Dword0 >> 16) + 1);
    }

    /// <summary>Active namespace list (CNS 02h), then Identify Namespace for each.</summary>
    public void IdentifyNamespaces()
    {
        _namespaces.Clear();
        var list = IdentifyRaw(NvmeIdentifyCns.ActiveNamespaceList, 0);
        for (int i = 0; i < 1024; i++)
        {
            uint nsid = BinaryPrimitives.ReadUInt32LittleEndian(list.AsSpan(4 * i));
            if (nsid == 0) break;
            var d = IdentifyRaw(NvmeIdentifyCns.Namespace, nsid);
            int format = d[26] & 0xF;
            int lbads = d[128 + 4 * format + 2];
            _namespaces[nsid] = new NvmeNamespaceInfo(nsid, BinaryPrimitives.ReadUInt64LittleEndian(d),
                BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(8)), 1 << lbads, d[30]);
        }
    }

    /// <summary>Creates I/O CQ <paramref name="qid"/> (MSI-X entry = qid when MSI-X is used) and SQ <paramref name="qid"/> bound to it.</summary>
    public NvmeQueuePair CreateIoQueuePair(ushort qid, int entries) => CreateIoQueuePair(qid, entries, entries);

    /// <summary>Creates an I/O queue pair whose SQ and CQ have different sizes.</summary>
    public NvmeQueuePair CreateIoQueuePair(ushort qid, int sqEntries, int cqEntries)
    {
        ulong sq = _mem.Allocate((ulong)(sqEntries * NvmeCommand.Size), (ulong)PageSize);
        ulong cq = _mem.Allocate((ulong)(cqEntries * NvmeCompletion.Size), (ulong)PageSize);
        int vector = _o.UseMsix ? qid : 0;
        var c = CreateCq(qid, cq, cqEntries, vector);
        if (c.Status == NvmeStatus.InvalidInterruptVector && vector != 0)
        {
            // Fewer vectors than queues (e.g. a VF with few VI resources): share vector 0 with the admin queue.
            vector = 0;
            c = CreateCq(qid, cq, cqEntries, vector);
        }
        if (!c.Status.IsSuccess) throw new NvmeDriverException($"{_address}: Create I/O CQ {qid} failed: {c.Status}");
        c = ExecuteAdmin(new NvmeSubmission
        {
            Opcode = NvmeAdminOpcode.CreateIoSubmissionQueue, Prp1 = sq,
            Cdw10 = qid | (uint)(sqEntries - 1) << 16,
            Cdw11 = 1u | (uint)qid << 16,
        });
        if (!c.Status.IsSuccess) throw new NvmeDriverException($"{_address}: Create I/O SQ {qid} failed: {c.Status}");
        return AdoptQueuePair(qid, sq, cq, sqEntries, cqEntries, vector);
    }

    NvmeCompletion CreateCq(ushort qid, ulong cq, int entries, int vector) => ExecuteAdmin(new NvmeSubmission
    {
        Opcode = NvmeAdminOpcode.CreateIoCompletionQueue, Prp1 = cq,
        Cdw10 = qid | (uint)(entries - 1) << 16,
        Cdw11 = 1u | (_o.UseMsix ? 2u : 0u) | (uint)vector << 16,
    });

    /// <summary>Tracks a queue pair the host created itself with raw admin commands (for tests of unusual layouts).</summary>
    public NvmeQueuePair AdoptQueuePair(ushort qid, ulong sqBase, ulong cqBase, int sqEntries, int cqEntries, int msixEntry)
    {
        var q = new NvmeQueuePair(qid, sqBase, cqBase, sqEntries, cqEntries, msixEntry, (byte)(_o.FirstHostVector + msixEntry));
        q.InterruptsSeen = _bus.InterruptCount(q.HostVector);
        _ioQueues.RemoveAll(x => x.Qid == qid);
        _ioQueues.Add(q);
        return q;
    }

    /// <summary>The I/O queue pair with <paramref name="qid"/>.</summary>
    public NvmeQueuePair IoQueue(int qid)
    {
        foreach (var q in _ioQueues)
            if (q.Qid == qid) return q;
        throw new ArgumentException($"I/O queue {qid} was not created by this driver");
    }

    // ---------------------------------------------------------------- commands

    /// <summary>Submits an admin command and waits for its completion.</summary>
    public NvmeCompletion ExecuteAdmin(in NvmeSubmission s)
    {
        var q = AdminQueue ?? throw new InvalidOperationException("the admin queue is not configured");
        ushort cid = Submit(q, s);
        return WaitFor(q, cid);
    }

    /// <summary>Submits an I/O command on queue <paramref name="qid"/> and waits for its completion.</summary>
    public NvmeCompletion ExecuteIo(int qid, in NvmeSubmission s)
    {
        var q = IoQueue(qid);
        ushort cid = Submit(q, s);
        return WaitFor(q, cid);
    }

    /// <summary>Writes the entry at the queue's tail and rings the SQ tail doorbell; returns the Command Identifier used.</summary>
    public ushort Submit(NvmeQueuePair q, in NvmeSubmission s)
    {
        ushort cid = q.NextCid++;
        WriteEntry(q, s, cid);
        q.SqTail = (q.SqTail + 1) % q.SqEntries;
        RingSqDoorbell(q);
        return cid;
    }

    /// <summary>Writes the entry at the queue's tail without ringing the doorbell (for batching).</summary>
    public ushort Enqueue(NvmeQueuePair q, in NvmeSubmission s)
    {
        ushort cid = q.NextCid++;
        WriteEntry(q, s, cid);
        q.SqTail = (q.SqTail + 1) % q.SqEntries;
        return cid;
    }

    void WriteEntry(NvmeQueuePair q, in NvmeSubmission s, ushort cid)
    {
        var e = new NvmeCommand(_sqe);
        e.Clear();
        e.Opcode = s.Opcode;
        e.Bytes[1] = s.Flags;
        e.CommandId = cid;
        e.Nsid = s.Nsid;
        e.Prp1 = s.Prp1;
        e.Prp2 = s.Prp2;
        e.Cdw10 = s.Cdw10;
        e.Cdw11 = s.Cdw11;
        e.Cdw12 = s.Cdw12;
        e.Cdw13 = s.Cdw13;
        e.Cdw14 = s.Cdw14;
        e.Cdw15 = s.Cdw15;
        _mem.Memory.Write(q.SqBase + (ulong)(q.SqTail * NvmeCommand.Size), _sqe);
    }

    /// <summary>Writes the queue's SQ tail doorbell.</summary>
    public void RingSqDoorbell(NvmeQueuePair q) => Write32(DoorbellOffset(q.Qid, false, _dstrd), (uint)q.SqTail);

    /// <summary>Writes an arbitrary value to a doorbell (for tests of invalid values).</summary>
    public void WriteDoorbell(int qid, bool completion, uint value) => Write32(DoorbellOffset(qid, completion, _dstrd), value);

    /// <summary>
    /// Takes the next completion: one set aside by <see cref="WaitFor"/>, else the next queue entry if its
    /// phase tag says it is new (then the CQ head doorbell is written).
    /// </summary>
    public bool TryReap(NvmeQueuePair q, out NvmeCompletion completion)
    {
        if (q.Backlog.Count > 0)
        {
            completion = q.Backlog[0];
            q.Backlog.RemoveAt(0);
            return true;
        }
        return TryReapEntry(q, out completion);
    }

    bool TryReapEntry(NvmeQueuePair q, out NvmeCompletion completion)
    {
        _mem.Memory.Read(q.CqBase + (ulong)(q.CqHead * NvmeCompletion.Size), _cqe);
        completion = NvmeCompletion.Parse(_cqe);
        if (completion.Phase != q.Phase) return false;
        q.CqHead = (q.CqHead + 1) % q.CqEntries;
        if (q.CqHead == 0) q.Phase = !q.Phase;
        Write32(DoorbellOffset(q.Qid, true, _dstrd), (uint)q.CqHead);
        return true;
    }

    /// <summary>
    /// Waits for the completion of <paramref name="cid"/> (polling or interrupt). Completions of other
    /// commands met on the way are kept for <see cref="TryReap"/>.
    /// </summary>
    public NvmeCompletion WaitFor(NvmeQueuePair q, ushort cid)
    {
        for (int i = 0; i < q.Backlog.Count; i++)
            if (q.Backlog[i].CommandId == cid)
            {
                var found = q.Backlog[i];
                q.Backlog.RemoveAt(i);
                return found;
            }
        for (int polls = 0; polls <= _o.MaxPolls; polls++)
        {
            if (_o.Wait == NvmeCompletionWait.Interrupt && q.Qid != 0)
            {
                long seen = _bus.InterruptCount(q.HostVector);
                if (seen == q.InterruptsSeen)
                {
                    _o.Pump?.Invoke();
                    continue;
                }
                q.InterruptsSeen = seen;
            }
            while (TryReapEntry(q, out var c))
            {
                if (c.CommandId == cid) return c;
                q.Backlog.Add(c);
            }
            _o.Pump?.Invoke();
        }
        throw new NvmeDriverException($"{_address}: no completion for cid {cid} on queue {q.Qid}");
    }

    // ---------------------------------------------------------------- NVM I/O helpers

    NvmeNamespaceInfo Ns(uint nsid) =>
        _namespaces.TryGetValue(nsid, out var ns) ? ns : throw new ArgumentException($"namespace {nsid} is not active on {_address}");

    /// <summary>Reads <paramref name="blocks"/> blocks into the host buffer at <paramref name="buffer"/> (PRPs built for a contiguous buffer).</summary>
    public NvmeCompletion Read(uint nsid, ulong lba, int blocks, ulong buffer, int qid = 1) =>
        ReadWrite(NvmeIoOpcode.Read, nsid, lba, blocks, buffer, qid);

    /// <summary>Writes <paramref name="blocks"/> blocks from the host buffer at <paramref name="buffer"/>.</summary>
    public NvmeCompletion Write(uint nsid, ulong lba, int blocks, ulong buffer, int qid = 1) =>
        ReadWrite(NvmeIoOpcode.Write, nsid, lba, blocks, buffer, qid);

    NvmeCompletion ReadWrite(byte opcode, uint nsid, ulong lba, int blocks, ulong buffer, int qid)
    {
        int bytes = blocks * Ns(nsid).BlockSize;
        var prps = BuildPrps(buffer, bytes);
        try
        {
            return ExecuteIo(qid, new NvmeSubmission
            {
                Opcode = opcode, Nsid = nsid, Prp1 = prps.Prp1, Prp2 = prps.Prp2,
                Cdw10 = (uint)lba, Cdw11 = (uint)(lba >> 32), Cdw12 = (uint)(blocks - 1),
            });
        }
        finally
        {
            ReleasePrps(prps);
        }
    }

    /// <summary>Flush of one namespace (or every one with 0xFFFFFFFF).</summary>
    public NvmeCompletion Flush(uint nsid, int qid = 1) => ExecuteIo(qid, new NvmeSubmission { Opcode = NvmeIoOpcode.Flush, Nsid = nsid });

    /// <summary>Write Zeroes of <paramref name="blocks"/> blocks.</summary>
    public NvmeCompletion WriteZeroes(uint nsid, ulong lba, int blocks, int qid = 1) => ExecuteIo(qid, new NvmeSubmission
    {
        Opcode = NvmeIoOpcode.WriteZeroes, Nsid = nsid, Cdw10 = (uint)lba, Cdw11 = (uint)(lba >> 32), Cdw12 = (uint)(blocks - 1),
    });

    /// <summary>Dataset Management with Attribute Deallocate over the given ranges.</summary>
    public NvmeCompletion Deallocate(uint nsid, ReadOnlySpan<(ulong Lba, uint Blocks)> ranges, int qid = 1)
    {
        ulong list = _mem.Allocate(4096, 4096);
        try
        {
            Span<byte> e = stackalloc byte[16];
            for (int i = 0; i < ranges.Length; i++)
            {
                e.Clear();
                BinaryPrimitives.WriteUInt32LittleEndian(e[4..], ranges[i].Blocks);
                BinaryPrimitives.WriteUInt64LittleEndian(e[8..], ranges[i].Lba);
                _mem.Memory.Write(list + 16UL * (ulong)i, e);
            }
            return ExecuteIo(qid, new NvmeSubmission
            {
                Opcode = NvmeIoOpcode.DatasetManagement, Nsid = nsid, Prp1 = list,
                Cdw10 = (uint)(ranges.Length - 1), Cdw11 = 1u << 2,
            });
        }
        finally
        {
            _mem.Free(list);
        }
    }

    // ---------------------------------------------------------------- PRPs

    /// <summary>PRP entries for a transfer and the list pages allocated for them (release after completion).</summary>
    public readonly record struct PrpMapping(ulong Prp1, ulong Prp2, ulong[]? ListPages);

    /// <summary>PRPs for a contiguous buffer of <paramref name="length"/> bytes at <paramref name="buffer"/>.</summary>
    public PrpMapping BuildPrps(ulong buffer, int length, int listOffset = 0)
    {
        ulong page = (ulong)PageSize;
        ulong first = buffer & ~(page - 1);
        int pages = (int)((buffer - first + (ulong)length + page - 1) / page);
        Span<ulong> list = pages <= 64 ? stackalloc ulong[pages] : new ulong[pages];
        for (int i = 0; i < pages; i++) list[i] = first + (ulong)i * page;
        return BuildPrps(list, (int)(buffer - first), length, listOffset);
    }

    /// <summary>
    /// PRPs for data in <paramref name="pages"/> (page addresses; the data starts <paramref name="firstOffset"/>
    /// bytes into the first). One page: PRP1 only; two: PRP1 + PRP2; more: PRP2 points to a PRP list placed
    /// <paramref name="listOffset"/> bytes into a fresh page, chained through the last entry of each list page.
    /// </summary>
    public PrpMapping BuildPrps(ReadOnlySpan<ulong> pages, int firstOffset, int length, int listOffset = 0)
    {
        ulong page = (ulong)PageSize;
        if ((listOffset & 7) != 0 || (ulong)listOffset >= page) throw new ArgumentOutOfRangeException(nameof(listOffset));
        ulong prp1 = pages[0] + (ulong)firstOffset;
        int needed = (int)(((ulong)firstOffset + (ulong)length + page - 1) / page);
        if (needed > pages.Length) throw new ArgumentException("not enough pages for the transfer");
        if (needed <= 1) return new PrpMapping(prp1, 0, null);
        if (needed == 2) return new PrpMapping(prp1, pages[1], null);
        var listPages = new List<ulong>();
        ulong listPage = _mem.Allocate(page, page);
        listPages.Add(listPage);
        ulong at = listPage + (ulong)listOffset;
        ulong prp2 = at;
        int next = 1;
        while (next < needed)
        {
            int slots = (int)((listPage + page - at) / 8);
            int remaining = needed - next;
            if (remaining <= slots)
            {
                for (int i = 0; i < remaining; i++) WriteQword(at + 8UL * (ulong)i, pages[next++]);
                break;
            }
            for (int i = 0; i < slots - 1; i++) WriteQword(at + 8UL * (ulong)i, pages[next++]);
            ulong chained = _mem.Allocate(page, page);
            listPages.Add(chained);
            WriteQword(at + 8UL * (ulong)(slots - 1), chained);
            listPage = at = chained;
        }
        return new PrpMapping(prp1, prp2, [.. listPages]);
    }

    /// <summary>Frees the list pages of <paramref name="mapping"/>.</summary>
    public void ReleasePrps(PrpMapping mapping)
    {
        if (mapping.ListPages is { } l)
            foreach (var p in l) _mem.Free(p);
    }

    void WriteQword(ulong address, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_qword, value);
        _mem.Memory.Write(address, _qword);
    }

    // ---------------------------------------------------------------- register and config access

    uint CfgRead(int offset, int width) => _bus.ConfigRead(offset, width);

    void CfgWrite(int offset, int width, uint value) => _bus.ConfigWrite(offset, width, value);

    /// <summary>Walks the legacy capability list (from 34h) for <paramref name="id"/>; 0 when absent.</summary>
    int FindCapability(byte id)
    {
        if ((CfgRead(PciRegs.Status, 2) & (uint)PciStatus.CapabilitiesList) == 0) return 0;
        int at = (int)CfgRead(PciRegs.CapabilitiesPointer, 1) & 0xFC;
        for (int hops = 0; at >= 0x40 && hops < 48; hops++)
        {
            if (CfgRead(at, 1) == id) return at;
            at = (int)CfgRead(at + 1, 1) & 0xFC;
        }
        return 0;
    }

    /// <summary>Reads a controller register (dword).</summary>
    public uint Read32(int offset)
    {
        _bus.MemoryRead(_bar + (ulong)offset, _dword);
        return BinaryPrimitives.ReadUInt32LittleEndian(_dword);
    }

    /// <summary>Reads a 64-bit controller register as one qword access.</summary>
    public ulong Read64(int offset)
    {
        _bus.MemoryRead(_bar + (ulong)offset, _qword);
        return BinaryPrimitives.ReadUInt64LittleEndian(_qword);
    }

    /// <summary>Writes a controller register (dword).</summary>
    public CompletionStatus Write32(int offset, uint value) => MmioWrite32(_bar + (ulong)offset, value);

    /// <summary>Writes a 64-bit controller register as one qword access.</summary>
    public CompletionStatus Write64(int offset, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_qword, value);
        return _bus.MemoryWrite(_bar + (ulong)offset, _qword);
    }

    CompletionStatus MmioWrite32(ulong address, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_dword, value);
        return _bus.MemoryWrite(address, _dword);
    }

    static string Ascii(ReadOnlySpan<byte> b) => Encoding.ASCII.GetString(b).TrimEnd(' ', '\0');
}

/// <summary>How host software reaches one function: its configuration registers, memory space, and the host interrupt counters.</summary>
public interface INvmeHostBus
{
    /// <summary>Name of the function (for messages).</summary>
    string Name { get; }
    uint ConfigRead(int offset, int width);
    void ConfigWrite(int offset, int width, uint value);
    CompletionStatus MemoryRead(ulong address, Span<byte> data);
    CompletionStatus MemoryWrite(ulong address, ReadOnlySpan<byte> data);
    /// <summary>Interrupt messages received so far with host vector <paramref name="vector"/>.</summary>
    long InterruptCount(byte vector);
    /// <summary>The address memory BAR <paramref name="index"/> was assigned (0 = unassigned or not a memory BAR).</summary>
    ulong BarAddress(int index);
}

/// <summary>The host's view through a <see cref="RootComplex"/>: ECAM configuration requests, MMIO routed by the fabric.</summary>
public sealed class FabricHostBus(RootComplex rootComplex, PciAddress function) : INvmeHostBus
{
    public string Name => function.ToString();
    public RootComplex RootComplex => rootComplex;

    public uint ConfigRead(int offset, int width)
    {
        rootComplex.Read(function, offset, width, out uint v);
        return v;
    }

    public void ConfigWrite(int offset, int width, uint value) => rootComplex.Write(function, offset, width, value);
    public CompletionStatus MemoryRead(ulong address, Span<byte> data) => rootComplex.MemoryRead(address, data);
    public CompletionStatus MemoryWrite(ulong address, ReadOnlySpan<byte> data) => rootComplex.MemoryWrite(address, data);
    public long InterruptCount(byte vector) => rootComplex.InterruptController.CountForVector(vector);

    /// <summary>Reads the BAR from configuration space (with the upper half of a 64-bit BAR).</summary>
    public ulong BarAddress(int index)
    {
        int at = PciRegs.Bar0 + 4 * index;
        uint lo = ConfigRead(at, 4);
        if ((lo & 1) != 0) return 0; // I/O BAR
        ulong address = lo & ~0xFUL;
        if (((lo >> 1) & 3) == 2) address |= (ulong)ConfigRead(at + 4, 4) << 32;
        return address;
    }
}
