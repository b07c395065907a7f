using System.Globalization;
using System.Text;
using System.Text.Json;
using PcieVirt.Devices.Nvme;

namespace PcieVirt.Devices.Driver;

/// <summary>Access pattern of a <see cref="NvmeWorkload"/> (fio's <c>rw</c> names).</summary>
public enum WorkloadPattern { Read, Write, RandRead, RandWrite, RandRw }

/// <summary>Parameters of a <see cref="NvmeWorkload"/>.</summary>
public sealed record WorkloadOptions
{
    public WorkloadPattern Pattern { get; init; } = WorkloadPattern.RandRead;
    /// <summary>Bytes per I/O (a multiple of the namespace block size).</summary>
    public int BlockSize { get; init; } = 4096;
    /// <summary>Commands kept outstanding.</summary>
    public int IoDepth { get; init; } = 1;
    /// <summary>Commands to complete (the measured phase).</summary>
    public int Ops { get; init; } = 1000;
    /// <summary>Write a deterministic pattern over the region first, then check every byte read.</summary>
    public bool Verify { get; init; }
    public ulong Seed { get; init; } = 1;
    /// <summary>Namespace; 0 = the lowest active NSID.</summary>
    public uint Nsid { get; init; }
    public int Qid { get; init; } = 1;
    /// <summary>Percentage of reads for <see cref="WorkloadPattern.RandRw"/>.</summary>
    public int ReadPercent { get; init; } = 50;

    /// <summary>Parses fio's rw names (read, write, randread, randwrite, randrw).</summary>
    public static bool TryParsePattern(string s, out WorkloadPattern p)
    {
        (bool ok, p) = s switch
        {
            "read" => (true, WorkloadPattern.Read),
            "write" => (true, WorkloadPattern.Write),
            "randread" => (true, WorkloadPattern.RandRead),
            "randwrite" => (true, WorkloadPattern.RandWrite),
            "randrw" => (true, WorkloadPattern.RandRw),
            _ => (false, WorkloadPattern.Read),
        };
        return ok;
    }

    /// <summary>Parses a size such as 4096, 4k, 128K, 1m (binary units).</summary>
    public static bool TryParseSize(string s, out int bytes)
    {
        bytes = 0;
        s = s.Trim();
        long unit = 1;
        if (s.Length > 0 && char.ToLowerInvariant(s[^1]) is 'k' or 'm')
        {
            unit = char.ToLowerInvariant(s[^1]) == 'k' ? 1024 : 1024 * 1024;
            s = s[..^1];
        }
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0 || n > int.MaxValue / unit) return false;
        bytes = (int)(n * unit);
        return true;
    }
}

/// <summary>Latency statistics in virtual nanoseconds (percentiles by nearest rank).</summary>
public sealed record LatencyStats(ulong P50, ulong P90, ulong P99, ulong P999, ulong Min, ulong Max, ulong Mean)
{
    /// <summary>Statistics of <paramref name="samples"/> (sorted in place).</summary>
    public static LatencyStats From(ulong[] samples)
    {
        if (samples.Length == 0) return new(0, 0, 0, 0, 0, 0, 0);
        Array.Sort(samples);
        UInt128 sum = 0;
        foreach (var s in samples) sum += s;
        // Nearest rank: the smallest sample with at least p% of the samples at or below it.
        ulong Rank(int perMille) => samples[Math.Max(0, (int)Math.Ceiling(samples.Length * (perMille / 1000.0)) - 1)];
        return new(Rank(500), Rank(900), Rank(990), Rank(999), samples[0], samples[^1], (ulong)(sum / (ulong)samples.Length));
    }
}

/// <summary>What a <see cref="NvmeWorkload"/> measured.</summary>
public sealed record WorkloadResult(long Ops, long Errors, long VerifyMismatches, ulong ElapsedNs, long Bytes, LatencyStats Latency,
    IReadOnlyList<string> MismatchReports)
{
    /// <summary>Every completed command's latency (virtual ns), sorted ascending: what the percentiles were taken from (for plots).</summary>
    public IReadOnlyList<ulong> LatencySamplesNs { get; init; } = [];

    /// <summary>Completed commands per virtual second (0 when no virtual time passed).</summary>
    public double Iops => ElapsedNs == 0 ? 0 : Ops * 1e9 / ElapsedNs;
    /// <summary>Data bytes per virtual second.</summary>
    public double BandwidthBytesPerSecond => ElapsedNs == 0 ? 0 : Bytes * 1e9 / ElapsedNs;

    /// <summary>JSON with stable keys: iops, bw_bytes_per_s, lat_ns{p50,p90,p99,p999,min,max,mean}, ops, errors, verify_mismatches, elapsed_ns.</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("iops", Math.Round(Iops, 3));
            w.WriteNumber("bw_bytes_per_s", Math.Round(BandwidthBytesPerSecond, 3));
            w.WriteStartObject("lat_ns");
            w.WriteNumber("p50", Latency.P50);
            w.WriteNumber("p90", Latency.P90);
            w.WriteNumber("p99", Latency.P99);
            w.WriteNumber("p999", Latency.P999);
            w.WriteNumber("min", Latency.Min);
            w.WriteNumber("max", Latency.Max);
            w.WriteNumber("mean", Latency.Mean);
            w.WriteEndObject();
            w.WriteNumber("ops", Ops);
            w.WriteNumber("errors", Errors);
            w.WriteNumber("verify_mismatches", VerifyMismatches);
            w.WriteNumber("elapsed_ns", ElapsedNs);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Human-readable summary (fio-like).</summary>
    public string ToText()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(c, $"ops={Ops} errors={Errors} verify_mismatches={VerifyMismatches} elapsed={ElapsedNs} ns (virtual)"));
        sb.AppendLine(string.Create(c, $"iops={Iops:F1} bw={BandwidthBytesPerSecond:F0} B/s"));
        var l = Latency;
        sb.AppendLine(string.Create(c, $"lat (ns): min={l.Min} max={l.Max} mean={l.Mean}"));
        sb.AppendLine(string.Create(c, $"lat percentiles (ns): p50={l.P50} p90={l.P90} p99={l.P99} p99.9={l.P999}"));
        foreach (var m in MismatchReports) sb.AppendLine(m);
        return sb.ToString();
    }
}

/// <summary>How a workload moves virtual time: the current time, the next device event, and a way to get there.</summary>
public interface IWorkloadTimebase
{
    ulong NowNs { get; }
    /// <summary>Earliest pending device event (completion due, tokens available); <see cref="ulong.MaxValue"/> when none.</summary>
    ulong NextEventNs { get; }
    /// <summary>Moves the clock to <paramref name="timeNs"/> and lets the device post what is due.</summary>
    void AdvanceTo(ulong timeNs);
}

/// <summary>An <see cref="IWorkloadTimebase"/> from delegates.</summary>
public sealed class DelegateTimebase(Func<ulong> now, Func<ulong> nextEvent, Action<ulong> advanceTo) : IWorkloadTimebase
{
    public ulong NowNs => now();
    public ulong NextEventNs => nextEvent();
    public void AdvanceTo(ulong timeNs) => advanceTo(timeNs);
}

/// <summary>
/// A fio-like workload through the reference <see cref="NvmeDriver"/>: keeps <see cref="WorkloadOptions.IoDepth"/>
/// commands outstanding on one I/O queue, measures each command's latency from submission to reaping in
/// virtual time, and with verify checks every byte read against the deterministic pattern of its LBA.
/// Deterministic for a seed. Several workloads can run together on one timebase (<see cref="RunTogether"/>).
/// </summary>
public sealed class NvmeWorkload
{
    readonly NvmeDriver _d;
    readonly WorkloadOptions _o;
    readonly IWorkloadTimebase _time;
    readonly NvmeQueuePair _q;
    readonly int _lbaSize, _blocksPerIo;
    readonly ulong _regionIos;
    readonly ulong[] _buffers;
    readonly NvmeDriver.PrpMapping[] _prps;
    readonly byte[] _expect, _actual;
    readonly Dictionary<ushort, int> _slotOfCid = [];
    readonly (ulong Lba, bool Write, ulong SubmittedNs)[] _slots;
    readonly Stack<int> _free = new();
    readonly List<ulong> _latencies = [];
    readonly List<string> _mismatchReports = [];
    ulong _rng, _seqNext;
    int _submitted, _completed;
    long _errors, _mismatches, _bytes;
    ulong _startNs, _lastNs;
    bool _prefilling;

    /// <summary>Prepares a workload on <paramref name="driver"/> (initialised, with I/O queue <see cref="WorkloadOptions.Qid"/>).</summary>
    public NvmeWorkload(NvmeDriver driver, WorkloadOptions options, IWorkloadTimebase time)
    {
        _d = driver;
        if (options.Nsid == 0 && driver.Namespaces.Count > 0) options = options with { Nsid = driver.Namespaces.Keys.Min() };
        _o = options;
        _time = time;
        if (!driver.Namespaces.TryGetValue(options.Nsid, out var ns)) throw new ArgumentException($"namespace {options.Nsid} is not active on {driver.Address}");
        if (options.BlockSize <= 0 || options.BlockSize % ns.BlockSize != 0) throw new ArgumentException($"block size {options.BlockSize} is not a multiple of the namespace's {ns.BlockSize}-byte LBA");
        if (options.IoDepth < 1) throw new ArgumentException("iodepth must be at least 1");
        if (options.Ops < 1) throw new ArgumentException("ops must be at least 1");
        _q = driver.IoQueue(options.Qid);
        if (options.IoDepth > _q.SqEntries - 1) throw new ArgumentException($"iodepth {options.IoDepth} exceeds what queue {options.Qid} holds ({_q.SqEntries - 1})");
        _lbaSize = ns.BlockSize;
        _blocksPerIo = options.BlockSize / ns.BlockSize;
        ulong nsIos = ns.Size / (ulong)_blocksPerIo;
        if (nsIos == 0) throw new ArgumentException($"block size {options.BlockSize} exceeds the namespace");
        _regionIos = Math.Min(nsIos, (ulong)Math.Max(options.Ops, options.IoDepth));
        _slots = new (ulong, bool, ulong)[options.IoDepth];
        _buffers = new ulong[options.IoDepth];
        _prps = new NvmeDriver.PrpMapping[options.IoDepth];
        for (int i = 0; i < _buffers.Length; i++)
        {
            _buffers[i] = driver.Memory.Allocate((ulong)options.BlockSize, 4096);
            _prps[i] = driver.BuildPrps(_buffers[i], options.BlockSize); // once per buffer: no PRP list allocation per command
        }
        for (int i = options.IoDepth - 1; i >= 0; i--) _free.Push(i);
        _expect = new byte[options.BlockSize];
        _actual = new byte[options.BlockSize];
        _rng = options.Seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;
    }

    /// <summary>Whether the measured phase finished.</summary>
    public bool IsDone => !_prefilling && _completed >= _o.Ops;

    /// <summary>Runs this workload alone to completion.</summary>
    public WorkloadResult Run() => RunTogether(_time, this)[0];

    /// <summary>Runs <paramref name="workloads"/> concurrently on <paramref name="time"/>, advancing it from event to event.</summary>
    public static WorkloadResult[] RunTogether(IWorkloadTimebase time, params NvmeWorkload[] workloads)
    {
        foreach (var w in workloads.Where(w => w._o.Verify)) w.Prefill();
        foreach (var w in workloads) w._startNs = w._lastNs = time.NowNs;
        int idleAdvances = 0;
        while (workloads.Any(w => !w.IsDone))
        {
            bool progress = false;
            foreach (var w in workloads) progress |= w.Step();
            if (progress) { idleAdvances = 0; continue; }
            AdvanceToNextEvent(time, ref idleAdvances);
        }
        return workloads.Select(w => w.Result()).ToArray();
    }

    /// <summary>Writes the pattern over the whole region (not measured).</summary>
    void Prefill()
    {
        _prefilling = true;
        for (ulong io = 0; io < _regionIos; io++)
        {
            ulong lba = io * (ulong)_blocksPerIo;
            Pattern(lba, _expect);
            _d.Memory.Memory.Write(_buffers[0], _expect);
            ushort cid = _d.Submit(_q, Submission(true, lba, 0));
            if (!WaitFor(cid).Status.IsSuccess) _errors++;
        }
        _prefilling = false;
    }

    NvmeCompletion WaitFor(ushort cid)
    {
        int idle = 0;
        while (true)
        {
            while (_d.TryReap(_q, out var c))
                if (c.CommandId == cid) return c;
            AdvanceToNextEvent(_time, ref idle);
        }
    }

    /// <summary>Moves time to the next device event; throws when the device makes no progress (a stall, not a hang).</summary>
    static void AdvanceToNextEvent(IWorkloadTimebase time, ref int idleAdvances)
    {
        ulong next = time.NextEventNs;
        if (next == ulong.MaxValue)
            throw new NvmeDriverException("workload stalled: commands outstanding but the device reports no pending event");
        // An event that stays due after time reached it means the device does not see this clock.
        if (next <= time.NowNs && ++idleAdvances > 2)
            throw new NvmeDriverException($"workload stalled: the device's event at {next} ns stays pending at {time.NowNs} ns (does the controller read the same clock?)");
        time.AdvanceTo(Math.Max(next, time.NowNs));
    }

    NvmeSubmission Submission(bool write, ulong lba, int slot)
    {
        var p = _prps[slot];
        return new NvmeSubmission
        {
            Opcode = write ? NvmeIoOpcode.Write : NvmeIoOpcode.Read, Nsid = _o.Nsid, Prp1 = p.Prp1, Prp2 = p.Prp2,
            Cdw10 = (uint)lba, Cdw11 = (uint)(lba >> 32), Cdw12 = (uint)(_blocksPerIo - 1),
        };
    }

    ulong Next()
    {
        // SplitMix64: a fixed, documented generator so a seed means the same run on every platform and runtime.
        ulong z = _rng += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Reaps what completed, then fills the queue; true if anything happened.</summary>
    bool Step()
    {
        if (IsDone) return false;
        bool progress = false;
        while (_d.TryReap(_q, out var c))
        {
            progress = true;
            if (!_slotOfCid.Remove(c.CommandId, out int slot)) { _errors++; continue; }
            var s = _slots[slot];
            ulong now = _time.NowNs;
            _latencies.Add(now - s.SubmittedNs);
            _lastNs = now;
            _completed++;
            if (!c.Status.IsSuccess) _errors++;
            else
            {
                _bytes += _o.BlockSize;
                if (!s.Write && _o.Verify) Check(s.Lba, _buffers[slot]);
            }
            _free.Push(slot);
        }
        int issued = 0;
        while (_submitted < _o.Ops && _free.Count > 0)
        {
            int slot = _free.Pop();
            bool write = _o.Pattern switch
            {
                WorkloadPattern.Write or WorkloadPattern.RandWrite => true,
                WorkloadPattern.RandRw => (int)(Next() % 100) >= _o.ReadPercent,
                _ => false,
            };
            ulong io = _o.Pattern is WorkloadPattern.Read or WorkloadPattern.Write ? _seqNext++ % _regionIos : Next() % _regionIos;
            ulong lba = io * (ulong)_blocksPerIo;
            if (write)
            {
                Pattern(lba, _expect);
                _d.Memory.Memory.Write(_buffers[slot], _expect);
            }
            _slots[slot] = (lba, write, _time.NowNs);
            ushort cid = _d.Enqueue(_q, Submission(write, lba, slot));
            _slotOfCid[cid] = slot;
            _submitted++;
            issued++;
        }
        if (issued > 0)
        {
            _d.RingSqDoorbell(_q); // one doorbell write for the batch, as a driver with a full queue does
            progress = true;
        }
        return progress;
    }

    /// <summary>The bytes every write to <paramref name="lba"/> carries (so any read of it has one right answer).</summary>
    void Pattern(ulong lba, Span<byte> b) => FillPattern(_o.Seed, lba, _lbaSize, b);

    /// <summary>
    /// Fills <paramref name="b"/> (whole blocks of <paramref name="lbaSize"/> bytes from <paramref name="lba"/>)
    /// with the deterministic pattern of <paramref name="seed"/>: every workload tool writes and checks these bytes.
    /// </summary>
    public static void FillPattern(ulong seed, ulong lba, int lbaSize, Span<byte> b)
    {
        for (int blk = 0; blk * lbaSize < b.Length; blk++)
        {
            ulong x = (seed ^ 0xA5A5_5A5A_0F0F_F0F0UL) + (lba + (ulong)blk) * 0x9E3779B97F4A7C15UL;
            var part = b.Slice(blk * lbaSize, Math.Min(lbaSize, b.Length - blk * lbaSize));
            for (int i = 0; i < part.Length; i++)
            {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                part[i] = (byte)(x >> 24);
            }
        }
    }

    void Check(ulong lba, ulong buffer)
    {
        Pattern(lba, _expect);
        _d.Memory.Memory.Read(buffer, _actual);
        if (!VerifyBlock(lba, _expect, _actual, _mismatchReports)) _mismatches++;
    }

    /// <summary>
    /// Compares what was read at <paramref name="lba"/> with what was written there; on a difference adds
    /// a line to <paramref name="reports"/> (the first 16) and returns false. Shared by every workload tool.
    /// </summary>
    public static bool VerifyBlock(ulong lba, ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, List<string> reports)
    {
        int bad = 0, first = -1;
        for (int i = 0; i < actual.Length; i++)
            if (actual[i] != expected[i]) { bad++; if (first < 0) first = i; }
        if (bad == 0) return true;
        if (reports.Count < 16)
            reports.Add(string.Create(CultureInfo.InvariantCulture,
                $"verify: LBA {lba}: {bad} of {actual.Length} bytes differ; first at byte {first}: expected 0x{expected[first]:x2}, read 0x{actual[first]:x2}"));
        return false;
    }

    WorkloadResult Result()
    {
        var samples = _latencies.ToArray();
        return new(_completed, _errors, _mismatches, _lastNs - _startNs, _bytes, LatencyStats.From(samples), _mismatchReports) { LatencySamplesNs = samples };
    }
}
