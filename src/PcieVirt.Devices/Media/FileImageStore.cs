using Microsoft.Win32.SafeHandles;

namespace PcieVirt.Devices.Media;

/// <summary>
/// A raw image file: byte offset N of the drive is byte N of the file. Positional reads and writes
/// (<see cref="RandomAccess"/>) through one handle; <see cref="Flush"/> asks the host OS to write the
/// file to stable storage. A new file is created at the requested length (sparse where the host file
/// system supports it); an existing file keeps its contents and must be at least that long.
/// </summary>
public sealed class FileImageStore : IBlockStore
{
    readonly SafeFileHandle _handle;
    readonly FileStream _stream;   // only for Flush(true): fsync on the handle

    FileImageStore(string path, SafeFileHandle handle, long length)
    {
        Path = path;
        _handle = handle;
        _stream = new FileStream(handle, FileAccess.ReadWrite, bufferSize: 0);
        Length = length;
    }

    /// <summary>Full path of the image file.</summary>
    public string Path { get; }

    public long Length { get; }

    /// <summary>The file's length: the model does not ask the host file system which ranges are holes.</summary>
    public long AllocatedBytes => Length;

    /// <summary>
    /// Opens or creates an image. <paramref name="length"/> of 0 takes an existing file's length.
    /// Returns null and an error message when the file cannot be used.
    /// </summary>
    public static FileImageStore? Open(string path, long length, out string? error)
    {
        error = null;
        SafeFileHandle? handle = null;
        try
        {
            string full = System.IO.Path.GetFullPath(path);
            bool exists = File.Exists(full);
            if (!exists && length <= 0)
            {
                error = $"image file '{full}' does not exist and no capacity was given to create it";
                return null;
            }
            handle = File.OpenHandle(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
            long current = RandomAccess.GetLength(handle);
            if (length <= 0)
            {
                length = current;
                if (length == 0)
                {
                    error = $"image file '{full}' is empty";
                    handle.Dispose();
                    return null;
                }
            }
            else if (!exists || current == 0)
            {
                RandomAccess.SetLength(handle, length);
            }
            else if (current < length)
            {
                error = $"image file '{full}' holds {current} bytes, less than the {length} requested";
                handle.Dispose();
                return null;
            }
            return new FileImageStore(full, handle, length);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            handle?.Dispose();
            error = $"image file '{path}': {ex.Message}";
            return null;
        }
    }

    public void Read(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, destination, offset);
            if (n == 0)
            {
                // Past the end of a file someone truncated under us: the model reads zeros there.
                destination.Clear();
                return;
            }
            destination = destination[n..];
            offset += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> source) => RandomAccess.Write(_handle, source, offset);

    public void Zero(long offset, long length)
    {
        ReadOnlySpan<byte> zeros = ZeroBuffer.Get(64 * 1024);
        while (length > 0)
        {
            int n = (int)Math.Min(length, zeros.Length);
            RandomAccess.Write(_handle, zeros[..n], offset);
            offset += n;
            length -= n;
        }
    }

    public void Flush() => _stream.Flush(flushToDisk: true);

    public void Dispose()
    {
        _stream.Dispose();
        _handle.Dispose();
    }
}
