namespace PcieVirt.Tests.Support;

/// <summary>Measures what a hot path allocates on the calling thread.</summary>
internal static class Allocations
{
    /// <summary>
    /// Bytes the current thread allocates running <paramref name="body"/>, in steady state: the least of up
    /// to <paramref name="rounds"/> runs. The runtime itself may allocate once on the thread (while a hot
    /// method tiers up); an allocation the code makes per call shows in every round.
    /// </summary>
    public static long SteadyState(Action body, int rounds = 3)
    {
        long best = long.MaxValue;
        for (int i = 0; i < rounds && best != 0; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            body();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }
}
