using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Failover;

/// <summary>One request of a failover guest: a 4 KiB unit, write (with the pattern of <paramref name="Generation"/>) or read.</summary>
internal readonly record struct GuestRequest(int Unit, bool Write, int Generation);

/// <summary>
/// The guest's I/O thread in the failover scenario: keeps up to <c>depth</c> requests in flight on its
/// NVMe queue (through the assigned VF), and polls its completion queue every <c>pollNs</c> while any
/// is outstanding (a polling driver: the interrupt path is not what failover measures). A request counts
/// as acknowledged when its completion is reaped. <see cref="Stop"/> models the vCPU dying with its host.
/// </summary>
internal sealed class FailoverGuest : ISimEventHandler
{
    public const int UnitBytes = 4096;

    readonly SimEngine _engine;
    readonly CpuTimeline _cpu;
    readonly NvmeFrontend _fe;
    readonly TimingParameters _t;
    readonly ulong _pollNs;
    readonly int[] _requestOfSlot;
    readonly int[] _free;
    readonly ulong[] _submittedAt;
    readonly byte[] _buffer = new byte[UnitBytes];
    readonly ulong _seed;
    int _freeCount;
    IReadOnlyList<GuestRequest> _requests = [];
    int _next;
    bool _scheduled;

    public FailoverGuest(SimEngine engine, CpuTimeline cpu, NvmeFrontend fe, TimingParameters timing, int depth, ulong seed, ulong pollNs = 1_000)
    {
        if (UnitBytes % fe.BlockSize != 0) throw new ArgumentException($"LBA size {fe.BlockSize} does not divide {UnitBytes}");
        _engine = engine;
        _cpu = cpu;
        _fe = fe;
        _t = timing;
        _pollNs = pollNs;
        _seed = seed;
        _requestOfSlot = new int[depth];
        _free = new int[depth];
        _submittedAt = new ulong[depth];
        for (int i = 0; i < depth; i++) _free[_freeCount++] = depth - 1 - i;
    }

    /// <summary>LBAs per 4 KiB unit.</summary>
    public int BlocksPerUnit => UnitBytes / _fe.BlockSize;
    /// <summary>Units the namespace holds.</summary>
    public ulong Units => _fe.BlockCount / (ulong)BlocksPerUnit;
    /// <summary>Requests submitted so far.</summary>
    public int Submitted => _next;
    /// <summary>Requests in flight (submitted, completion not reaped).</summary>
    public int InFlight => _requestOfSlot.Length - _freeCount;
    /// <summary>True once the vCPU is gone.</summary>
    public bool Stopped { get; private set; }
    /// <summary>Every request submitted and reaped.</summary>
    public bool IsDone => _next >= _requests.Count && InFlight == 0;
    /// <summary>Told (request index, success, data read for reads or null, submit time, reap time) on each reaped completion.</summary>
    public Action<int, bool, ReadOnlyMemory<byte>?, ulong, ulong>? Completed { get; set; }
    /// <summary>Told (request index, submit time) when a request is submitted.</summary>
    public Action<int, ulong>? SubmittedRequest { get; set; }

    /// <summary>Told the number of completions so far (this guest's plus <see cref="CompletionsBefore"/>), every 256.</summary>
    public Action<long>? Progress { get; init; }
    /// <summary>Completions an earlier guest of the same run already reported (so progress keeps counting up).</summary>
    public long CompletionsBefore { get; init; }
    /// <summary>Completions this guest reaped, plus <see cref="CompletionsBefore"/>.</summary>
    public long CompletionsSoFar => CompletionsBefore + _completions;
    long _completions;

    /// <summary>Runs <paramref name="requests"/> in order, starting now.</summary>
    public void Run(IReadOnlyList<GuestRequest> requests)
    {
        _requests = requests;
        _next = 0;
        Wake(_engine.Now);
    }

    /// <summary>The vCPU stops for good (its host failed): nothing is submitted or reaped any more.</summary>
    public void Stop() => Stopped = true;

    /// <summary>The pattern generation <paramref name="generation"/> writes into <paramref name="unit"/>.</summary>
    public static void Fill(ulong seed, int generation, ulong unit, int blockSize, Span<byte> data)
    {
        int per = UnitBytes / blockSize;
        ulong genSeed = seed ^ (0x9E37_79B9_7F4A_7C15UL * (ulong)(generation + 1));
        for (int i = 0; i < per; i++)
            NvmeWorkload.FillPattern(genSeed, unit * (ulong)per + (ulong)i, blockSize, data.Slice(i * blockSize, blockSize));
    }

    void Wake(ulong at)
    {
        if (_scheduled || Stopped) return;
        _scheduled = true;
        _engine.Schedule(Math.Max(at, _engine.Now), this, 0);
    }

    void ISimEventHandler.OnEvent(int tag, long argument)
    {
        _scheduled = false;
        if (Stopped) return;
        _cpu.Begin(_engine.Now);
        while (_fe.TryReap(_cpu, out int slot, out bool ok))
        {
            _cpu.Spend(IoComponent.GuestStack, _t[TimingParameter.OsIoComplete]);
            if ((++_completions & 0xFF) == 0) Progress?.Invoke(CompletionsSoFar);
            int index = _requestOfSlot[slot];
            ReadOnlyMemory<byte>? data = null;
            if (!_requests[index].Write && ok)
            {
                var copy = new byte[UnitBytes];
                _fe.Memory.Read(_fe.Buffer(slot), copy);
                data = copy;
            }
            _free[_freeCount++] = slot;
            Completed?.Invoke(index, ok, data, _submittedAt[slot], _cpu.Cursor);
        }
        bool any = false;
        while (_freeCount > 0 && _next < _requests.Count)
        {
            int slot = _free[--_freeCount];
            int index = _next++;
            var r = _requests[index];
            if (r.Write)
            {
                Fill(_seed, r.Generation, (ulong)r.Unit, _fe.BlockSize, _buffer);
                _fe.Memory.Write(_fe.Buffer(slot), _buffer);
            }
            _cpu.Spend(IoComponent.GuestStack, _t[TimingParameter.OsIoSubmit]);
            _requestOfSlot[slot] = index;
            _submittedAt[slot] = _cpu.Cursor;
            _fe.Enqueue(_cpu, slot, r.Write, (ulong)r.Unit * (ulong)BlocksPerUnit, BlocksPerUnit);
            SubmittedRequest?.Invoke(index, _cpu.Cursor);
            any = true;
        }
        if (any) _fe.Notify(_cpu);
        ulong end = _cpu.Cursor;
        _cpu.End();
        if (InFlight > 0 || _next < _requests.Count) Wake(end + _pollNs);
    }
}
