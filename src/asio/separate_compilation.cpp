// Asio's, Asio SSL's and Beast's own (non-template) code, compiled once for the
// whole build when SLUICE_SEPARATE_ASIO is on (BOOST_ASIO_SEPARATE_COMPILATION,
// BOOST_BEAST_SEPARATE_COMPILATION): every other file then only declares it.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
