namespace PcieVirt.Devices.Media;

/// <summary>
/// Prices one drive request in virtual nanoseconds. Models may keep state (an HDD's head position) and
/// must be deterministic: same seed, same sequence of requests, same answers.
/// </summary>
public interface ILatencyModel
{
    /// <summary>Service time of one request of <paramref name="count"/> blocks at <paramref name="lba"/>.</summary>
    long ServiceTime(MediaOperation operation, long lba, int count, int blockSize);
}
