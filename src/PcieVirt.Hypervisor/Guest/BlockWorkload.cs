using System.Globalization;
using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Guest;

/// <summary>
/// A fio-like workload as software on a CPU in the discrete-event simulation: it keeps
/// <see cref="WorkloadOptions.IoDepth"/> requests outstanding on an <see cref="IBlockFrontend"/>, runs when
/// started or woken by a completion interrupt, and measures each request from the moment the OS starts
/// submitting it to the moment it has handled its completion, on the CPU's own timeline. With verify, the
/// region is first written with the deterministic pattern (not measured) and every byte read is checked.
/// </summary>
public sealed class BlockWorkload : ISimEventHandler
{
    const int TagRun = 1;
    readonly SimEngine _engine;
    readonly CpuTimeline _cpu;
    readonly IBlockFrontend _fe;
    readonly WorkloadOptions _o;
    readonly TimingParameters _t;
    readonly int _blocksPerIo;
    readonly ulong _regionIos;
    readonly ulong[] _lba, _submittedAt;
    ulong[] _latencies;
    readonly bool[] _write;
    readonly int[] _free, _reapedSlots;
    readonly bool[] _reapedOk;
    readonly byte[] _expect, _actual;
    readonly List<string> _mismatchReports = [];
    int _freeCount, _submitted, _completed, _inFlight, _target;
    long _errors, _mismatches, _bytes;
    ulong _rng, _seqNext, _startNs, _lastNs;
    bool _prefilling, _runScheduled;
    ulong _prefillNext;

    /// <summary>A workload of <paramref name="options"/> on <paramref name="frontend"/>, run by <paramref name="cpu"/>.</summary>
    public BlockWorkload(SimEngine engine, CpuTimeline cpu, IBlockFrontend frontend, WorkloadOptions options, TimingParameters timing)
    {
        _engine = engine;
        _cpu = cpu;
        _fe = frontend;
        _o = options;
        _t = timing;
        if (options.BlockSize <= 0 || options.BlockSize % frontend.BlockSize != 0)
            throw new ArgumentException($"block size {options.BlockSize} is not a multiple of the disk's {frontend.BlockSize}-byte block");
        if (options.IoDepth < 1 || options.IoDepth > frontend.MaxDepth)
            throw new ArgumentException($"iodepth {options.IoDepth} must be 1..{frontend.MaxDepth}");
        if (options.Ops < 1) throw new ArgumentException("ops must be at least 1");
        _blocksPerIo = options.BlockSize / frontend.BlockSize;
        ulong diskIos = frontend.BlockCount / (ulong)_blocksPerIo;
        if (diskIos == 0) throw new ArgumentException($"block size {options.BlockSize} exceeds the disk");
        _regionIos = Math.Min(diskIos, (ulong)Math.Max(options.Ops, options.IoDepth));
        int depth = options.IoDepth;
        _lba = new ulong[depth];
        _submittedAt = new ulong[depth];
        _write = new bool[depth];
        _free = new int[depth];
        _reapedSlots = new int[depth];
        _reapedOk = new bool[depth];
        for (int i = 0; i < depth; i++) _free[i] = depth - 1 - i;
        _freeCount = depth;
        _target = options.Ops;
        _latencies = new ulong[options.Ops];
        _expect = new byte[options.BlockSize];
        _actual = new byte[options.BlockSize];
        _rng = options.Seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;
        _prefilling = options.Verify;
    }

    /// <summary>Told the number of measured I/Os completed so far, every 64 completions (progress display); null = none.</summary>
    public Action<int>? Progress { get; set; }

    /// <summary>Whether the measured phase is over.</summary>
    public bool IsDone => !_prefilling && _completed >= _target;

    /// <summary>Whether the CPU is halted waiting for completions (no run scheduled, requests outstanding).</summary>
    public bool IsHalted => !_runScheduled && _inFlight > 0;

    /// <summary>Raised when the measured phase starts (after the verify prefill): reset counters then.</summary>
    public event Action? MeasurementStarted;

    /// <summary>Starts the workload now.</summary>
    public void Start()
    {
        if (!_prefilling) BeginMeasurement();
        RunAt(_engine.Now);
    }

    /// <summary>
    /// Starts another measured phase of <paramref name="ops"/> requests once this one is done: the same
    /// request stream continues (offsets, region, buffers) on the same system, and what the phase measures
    /// replaces what the last one did (<see cref="MeasurementStarted"/> is raised again). The latency buffer
    /// is reused, grown only when <paramref name="ops"/> exceeds every earlier phase.
    /// </summary>
    public void Continue(int ops)
    {
        if (ops < 1) throw new ArgumentOutOfRangeException(nameof(ops), "ops must be at least 1");
        if (!IsDone || _inFlight > 0) throw new InvalidOperationException("the current measured phase has not finished");
        if (ops > _latencies.Length) _latencies = new ulong[ops];
        _target = ops;
        _submitted = _completed = 0;
        _errors = _mismatches = _bytes = 0;
        _mismatchReports.Clear();
        BeginMeasurement();
        RunAt(_engine.Now);
    }

    /// <summary>Schedules the CPU to run the workload at <paramref name="time"/> (a completion interrupt woke it).</summary>
    public void RunAt(ulong time)
    {
        if (_runScheduled) return;
        _runScheduled = true;
        _engine.Schedule(Math.Max(time, _engine.Now), this, TagRun);
    }

    void BeginMeasurement()
    {
        _startNs = _lastNs = Math.Max(_engine.Now, _cpu.Actor.FreeAt);
        _cpu.Breakdown.Reset();
        MeasurementStarted?.Invoke();
    }

    void ISimEventHandler.OnEvent(int tag, long argument)
    {
        _runScheduled = false;
        _cpu.Begin(_engine.Now);
        Reap();
        _cpu.ClearPending();
        _cpu.ClearTargets();
        if (_prefilling && _inFlight == 0 && _prefillNext >= _regionIos)
        {
            _prefilling = false;
            _cpu.End();
            BeginMeasurement();
            _cpu.Begin(_engine.Now);
        }
        Submit();
        _cpu.ClearTargets();
        if (_inFlight > 0) _fe.Idle(_cpu);
        _cpu.End();
    }

    void Reap()
    {
        int reaped = 0;
        _cpu.ClearTargets();
        while (true)
        {
            _cpu.StartCapture();
            bool got = _fe.TryReap(_cpu, out int slot, out bool ok);
            _cpu.StopCapture();
            if (!got) break;
            _cpu.ChargeCaptured(slot); // what reaping it cost (the CQ head doorbell) is part of its latency
            _cpu.AddTarget(slot);
            _cpu.Spend(IoComponent.GuestStack, _t[TimingParameter.OsIoComplete]);
            _cpu.ChargePending(slot);
            _cpu.ClearTargets();
            _reapedSlots[reaped] = slot;
            _reapedOk[reaped++] = ok;
        }
        if (reaped == 0) return;
        // The interrupt handler ends with its EOI before the waiting thread runs: part of every reaped request's latency.
        for (int i = 0; i < reaped; i++) _cpu.AddTarget(_reapedSlots[i]);
        _fe.AfterReap(_cpu);
        _cpu.ClearTargets();
        for (int i = 0; i < reaped; i++)
        {
            int slot = _reapedSlots[i];
            bool ok = _reapedOk[i];
            _inFlight--;
            _free[_freeCount++] = slot;
            if (_prefilling)
            {
                if (!ok) _errors++;
                continue;
            }
            ulong latency = _cpu.Cursor - _submittedAt[slot];
            _cpu.Breakdown.Complete(slot, latency);
            _latencies[_completed++] = latency;
            if ((_completed & 63) == 0) Progress?.Invoke(_completed);
            _lastNs = _cpu.Cursor;
            if (!ok) { _errors++; continue; }
            _bytes += _o.BlockSize;
            if (!_write[slot] && _o.Verify) Check(slot);
        }
    }

    void Submit()
    {
        int batch = 0;
        Span<int> slots = stackalloc int[Math.Min(_o.IoDepth, 256)];
        while (_freeCount > 0 && batch < slots.Length && (_prefilling ? _prefillNext < _regionIos : _submitted < _target))
        {
            int slot = _free[--_freeCount];
            bool write;
            ulong io;
            if (_prefilling)
            {
                write = true;
                io = _prefillNext++;
            }
            else
            {
                write = _o.Pattern switch
                {
                    WorkloadPattern.Write or WorkloadPattern.RandWrite => true,
                    WorkloadPattern.RandRw => (int)(Next() % 100) >= _o.ReadPercent,
                    _ => false,
                };
                io = _o.Pattern is WorkloadPattern.Read or WorkloadPattern.Write ? _seqNext++ % _regionIos : Next() % _regionIos;
                _submitted++;
            }
            ulong lba = io * (ulong)_blocksPerIo;
            _lba[slot] = lba;
            _write[slot] = write;
            _cpu.Breakdown.Begin(slot);
            _cpu.ClearTargets();
            _cpu.AddTarget(slot);
            _submittedAt[slot] = _cpu.Cursor;
            _cpu.Spend(IoComponent.GuestStack, _t[TimingParameter.OsIoSubmit]);
            if (write)
            {
                NvmeWorkload.FillPattern(_o.Seed, lba, _fe.BlockSize, _expect);
                _fe.Memory.Write(_fe.Buffer(slot), _expect);
            }
            _fe.Enqueue(_cpu, slot, write, lba, _blocksPerIo);
            _inFlight++;
            slots[batch++] = slot;
        }
        if (batch == 0) return;
        _cpu.ClearTargets();
        for (int i = 0; i < batch; i++) _cpu.AddTarget(slots[i]);
        _fe.Notify(_cpu);
    }

    ulong Next()
    {
        // SplitMix64, as NvmeWorkload: the same seed gives the same offsets on every path.
        ulong z = _rng += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    void Check(int slot)
    {
        NvmeWorkload.FillPattern(_o.Seed, _lba[slot], _fe.BlockSize, _expect);
        _fe.Memory.Read(_fe.Buffer(slot), _actual);
        if (!NvmeWorkload.VerifyBlock(_lba[slot], _expect, _actual, _mismatchReports)) _mismatches++;
    }

    /// <summary>What the measured phase gave.</summary>
    public WorkloadResult Result()
    {
        var samples = _latencies.AsSpan(0, _completed).ToArray();
        return new(_completed, _errors, _mismatches, _lastNs - _startNs, _bytes, LatencyStats.From(samples), _mismatchReports) { LatencySamplesNs = samples };
    }
}
