namespace PcieVirt.Devices.Media;

/// <summary>
/// Parameters of a hard disk's mechanics. Sources of the defaults: spec-notes/raid-engine.md.
/// </summary>
public sealed record HddLatencyParameters
{
    /// <summary>Spindle speed; one revolution takes 60/rpm seconds.</summary>
    public int Rpm { get; init; } = 7200;

    /// <summary>Average seek over uniformly random positions (the datasheet figure).</summary>
    public long AverageSeekNs { get; init; } = 8_200_000;

    /// <summary>Seek to an adjacent track.</summary>
    public long TrackToTrackSeekNs { get; init; } = 500_000;

    /// <summary>Media transfer rate in bytes per second.</summary>
    public double BytesPerSecond { get; init; } = 171e6;

    /// <summary>Command processing in the drive's controller, charged on every request.</summary>
    public long CommandOverheadNs { get; init; } = 50_000;

    /// <summary>Flush of the (write-through modelled) cache: one revolution at most; charged as overhead only.</summary>
    public long FlushNs { get; init; } = 50_000;

    /// <summary>A 7,200 rpm enterprise SATA/SAS disk (HGST Ultrastar 7K4000 class).</summary>
    public static HddLatencyParameters Enterprise7200 { get; } = new();
}

/// <summary>
/// Hard-disk latency: seek + rotational latency + transfer. The head position is tracked in LBA space;
/// a seek of fractional distance f costs t2t + (full − t2t)·√f, where the full-stroke time is derived from
/// the datasheet average: for uniformly random start and end, E[√|x − y|] = 8/15, so
/// full − t2t = (avg − t2t)·15/8. Rotational latency is uniform over one revolution (mean half a turn).
/// A request that starts where the previous one ended pays neither seek nor rotation (streaming).
/// There is no TRIM on a disk: a trim is priced as writing the range.
/// </summary>
public sealed class HddLatencyModel : ILatencyModel
{
    readonly DeterministicRandom _random;
    readonly double _strokeNs;
    readonly double _revolutionNs;
    readonly long _capacityBlocks;
    long _head;

    public HddLatencyModel(HddLatencyParameters parameters, long capacityBlocks, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityBlocks);
        Parameters = parameters;
        _capacityBlocks = capacityBlocks;
        _random = new DeterministicRandom(seed);
        _strokeNs = Math.Max(0, parameters.AverageSeekNs - parameters.TrackToTrackSeekNs) * 15.0 / 8.0;
        _revolutionNs = 60e9 / parameters.Rpm;
    }

    public HddLatencyParameters Parameters { get; }

    /// <summary>Time of a seek across the whole surface (derived, see the class summary).</summary>
    public long FullStrokeSeekNs => (long)(Parameters.TrackToTrackSeekNs + _strokeNs);

    public long ServiceTime(MediaOperation operation, long lba, int count, int blockSize)
    {
        if (operation == MediaOperation.Flush)
            return Parameters.FlushNs;
        double ns = Parameters.CommandOverheadNs;
        if (lba != _head)
        {
            double fraction = Math.Abs(lba - _head) / (double)_capacityBlocks;
            ns += Parameters.TrackToTrackSeekNs + _strokeNs * Math.Sqrt(fraction);
            ns += _random.NextDouble() * _revolutionNs;
        }
        ns += (long)count * blockSize * 1e9 / Parameters.BytesPerSecond;
        _head = Math.Min(lba + count, _capacityBlocks - 1);
        return (long)Math.Round(ns);
    }
}
