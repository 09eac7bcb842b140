"""State: data kept in a process that will be restarted, scaled out or replaced."""
